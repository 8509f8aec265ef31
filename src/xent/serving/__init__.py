"""A TensorFlow-Serving-compatible model server (REST and gRPC): `xent serve`.

Modules: `server` (`ModelServer`, `ServerConfig`, `serve`), `registry` (the
models and versions served, hot reload, warm-up), `model_config` (TF
Serving's `--model_config_file`), `signatures` (request checks and TF
Serving's JSON formats), `tensors` (TensorProto to and from arrays),
`batching`, `dispatch` (what both front ends share), `rest` (on aiohttp),
`grpc_server` (with health checks), `metrics` (Prometheus), `request_log`,
`warmup` (TF Serving's warm-up records) and `errors`. Nothing is imported
here, so that `import xent` stays light.
"""
