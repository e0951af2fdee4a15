// Drives an MCP server guarded by bearer-guard (examples/mcp_server.rs) with the official MCP
// TypeScript SDK, knowing only the server's URL and a client id and secret:
//
//   node interop/mcp_client.mjs http://127.0.0.1:3001/mcp mcp-admin mcp-admin-secret
//
// The SDK's Streamable HTTP transport gets a 401, follows its `resource_metadata` to the RFC 9728
// metadata, discovers the authorization server (RFC 8414 / OpenID), asks it for a token with the
// client credentials grant and `resource` = the server's identifier (RFC 8707), and retries.
// Then: tools/list (whoami, read_orders, create_order), and a call of each tool. create_order
// must succeed when whoami reports the scope orders:write, and be refused with the 403
// insufficient_scope challenge otherwise.
//
// Prints one line per step: `> ` what was sent, `< ` what came back, `ok ` a check passed.
// Exits 0 when every check passed, 1 otherwise (with `FAIL ` and the reason on stderr).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const [url, clientId, clientSecret] = process.argv.slice(2);
if (!url || !clientId || !clientSecret) {
  console.error('usage: node mcp_client.mjs MCP_URL CLIENT_ID CLIENT_SECRET');
  process.exit(2);
}

const TOOLS = ['create_order', 'read_orders', 'whoami'];
/** Every 403 challenge the server sent, to tell how a refusal came about. */
const forbidden = [];

function fail(message) {
  console.error(`FAIL ${message}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) fail(message);
  console.log(`ok ${message}`);
}

/** What a request body says, without secrets: the JSON-RPC method, or the token request form. */
function describeBody(body) {
  if (typeof body !== 'string') return body instanceof URLSearchParams ? describeForm(body) : '';
  try {
    const message = JSON.parse(body);
    const name = message.params?.name ? ` ${message.params.name}` : '';
    return message.method ? `${message.method}${name}` : '';
  } catch {
    return describeForm(new URLSearchParams(body));
  }
}

function describeForm(form) {
  const shown = ['grant_type', 'scope', 'resource']
    .filter((name) => form.has(name))
    .map((name) => `${name}=${form.get(name)}`);
  return shown.join(' ');
}

/** fetch, printing each exchange on one line each way. */
async function loggingFetch(input, init = {}) {
  const target = input instanceof Request ? input.url : String(input);
  const method = init.method ?? (input instanceof Request ? input.method : 'GET');
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  const auth = headers.get('authorization');
  const credential = auth ? ` [${auth.split(' ')[0]}]` : '';
  console.log(`> ${method} ${target}${credential} ${describeBody(init.body)}`.trimEnd());
  const response = await fetch(input, init);
  const challenge = response.headers.get('www-authenticate');
  const type = response.headers.get('content-type')?.split(';')[0] ?? '';
  console.log(`< ${response.status} ${type}${challenge ? ` www-authenticate: ${challenge}` : ''}`.trimEnd());
  if (response.status === 403 && challenge) forbidden.push(challenge);
  return response;
}

/** The text of a tool result, parsed as JSON. */
function resultJson(result) {
  const text = result.content?.find((c) => c.type === 'text')?.text;
  if (result.isError || text === undefined) fail(`tool error: ${JSON.stringify(result)}`);
  return JSON.parse(text);
}

const provider = new ClientCredentialsProvider({
  clientId,
  clientSecret,
  // `expectedIssuer` left out on purpose: the client knows only the MCP server's URL, and the
  // authorization server is the one its RFC 9728 metadata names.
});
const transport = new StreamableHTTPClientTransport(new URL(url), {
  authProvider: provider,
  fetch: loggingFetch,
});
const client = new Client({ name: 'bearer-guard-interop', version: '1.0.0' });

try {
  await client.connect(transport);
  const server = client.getServerVersion();
  check(true, `initialize: server ${server?.name} ${server?.version}, protocol ${transport.protocolVersion ?? '?'}`);
  check(provider.tokens()?.access_token, 'a token was obtained with the client credentials grant');

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  check(JSON.stringify(names) === JSON.stringify(TOOLS), `tools/list: ${names.join(', ')}`);

  const me = resultJson(await client.callTool({ name: 'whoami', arguments: {} }));
  check(me.client_id === clientId, `tools/call whoami: client_id=${me.client_id} scopes=${me.scopes.join(' ')}`);

  const listed = resultJson(await client.callTool({ name: 'read_orders', arguments: {} }));
  check(Array.isArray(listed.orders), `tools/call read_orders: ${listed.orders.length} order(s)`);

  const order = { name: 'create_order', arguments: { item: 'interop widget', quantity: 2 } };
  if (me.scopes.includes('orders:write')) {
    const created = resultJson(await client.callTool(order));
    check(created.created?.item === 'interop widget', `tools/call create_order: created order ${created.created?.id}`);
  } else {
    let refusal;
    try {
      await client.callTool(order);
    } catch (error) {
      refusal = error;
    }
    check(refusal !== undefined, 'tools/call create_order without orders:write is refused');
    console.log(`< the SDK threw ${refusal.constructor.name}: ${refusal.message}`);
    check(
      forbidden.some((c) => c.includes('error="insufficient_scope"') && c.includes('scope="orders:write"') && c.includes('resource_metadata=')),
      'the refusal was the 403 insufficient_scope challenge naming orders:write and resource_metadata'
    );
  }
  await client.close();
  console.log('done');
} catch (error) {
  fail(`${error?.constructor?.name}: ${error?.message}`);
}
