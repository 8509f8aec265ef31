"""Moved to `xent.bench.serve_process` (a tool, not part of the product).

Kept only until `tests/xent/serving/test_server.py` imports
`xent.bench.serve_process`; then delete this module.
"""

from xent.bench.serve_process import ServeProcess

__all__ = ["ServeProcess"]
