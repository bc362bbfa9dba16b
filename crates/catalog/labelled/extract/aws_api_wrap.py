# Runs the real awslabs.aws-api-mcp-server with the network-only read-only-ops index stubbed (offline sandbox)
import sys
import awslabs.aws_api_mcp_server.core.metadata.read_only_operations_list as m
m.ServiceReferenceUrlsByService.__init__ = lambda self: dict.__init__(self)
import awslabs.aws_api_mcp_server.server as s
s.get_read_only_operations = lambda: m.ReadOnlyOperations({})
sys.exit(s.main())
