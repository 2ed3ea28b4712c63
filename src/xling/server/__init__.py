"""The HTTP service behind ``xling serve`` (extra ``server``): FastAPI over the library.

from xling.server import ServiceConfig, create_app
app = create_app(ServiceConfig(pools=["docs"], llm_urls=["http://127.0.0.1:8011/v1"]))
"""

from xling.server.app import create_app
from xling.server.config import ServiceConfig, read_api_keys
from xling.server.service import Service

__all__ = ["Service", "ServiceConfig", "create_app", "read_api_keys"]
