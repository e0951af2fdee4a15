//! Macros shared by the crate's tower services.

/// `get_ref`, `get_mut` and `into_inner` for a service wrapping `inner: S`, as tower's own
/// middleware has them. Used inside the service's `impl` block.
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}
