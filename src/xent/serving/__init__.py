"""A TensorFlow-Serving-compatible model server (REST and gRPC): `xent serve`.

Modules: `server` (`ModelServer`, `ServerConfig`, `serve`), `registry` (the
models and versions under a base directory, hot reload), `signatures` (request
checks and TF Serving's JSON formats), `batching`, `rest`, `grpc_server` and
`errors`. Nothing is imported here, so that `import xent` stays light.
"""
