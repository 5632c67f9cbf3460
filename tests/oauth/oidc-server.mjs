// oidc-provider, an OAuth server written independently of this project,
// configured as CONTRACT.md §1 describes the platform's: client credentials
// and introspection at /oauth/token and /oauth/introspect, Basic auth.
// Listens on 127.0.0.1:0 and prints its port (`port=N`) on stdout; the Rust
// test (tests/oauth_interop.rs) reads it and kills the process at the end.
import http from 'node:http';
import Provider from 'oidc-provider';

const SCOPES = ['wfm:schedule:read', 'wfm:schedule:write', 'wfm:admin', 'org:read'];

function client(id, scopes) {
  return {
    client_id: id,
    client_secret: `${id}-secret`,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: scopes.join(' '),
  };
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [
      client('publisher', SCOPES),
      // The thread's case: an OAuth client not entitled to wfm:admin.
      client('no-admin', SCOPES.filter((s) => s !== 'wfm:admin')),
    ],
    scopes: SCOPES,
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      devInteractions: { enabled: false },
    },
    routes: { token: '/oauth/token', introspection: '/oauth/introspect' },
  });
  server.on('request', provider.callback());
  process.stdout.write(`port=${port}\n`);
});

// Ends with the test even if the kill is missed: stdin closes with the parent.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
