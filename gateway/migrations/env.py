from gateway.models import Base
from kernel.platform.migrations import run_env

run_env(Base.metadata, with_messaging=False)
