// Starts @paypal/agent-toolkit's own MCP server class (PayPalAgentToolkit extends McpServer) over stdio with every action enabled.
const { PayPalAgentToolkit } = require('@paypal/agent-toolkit/mcp');
const { StdioServerTransport } = require('@modelcontextprotocol/sdk/server/stdio.js');
const all = new Proxy({}, { get: () => new Proxy({}, { get: () => true }) });
const server = new PayPalAgentToolkit({ accessToken: 'dummy', configuration: { actions: all, context: { sandbox: true } } });
server.connect(new StdioServerTransport());
