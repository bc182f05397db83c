"""Claims left idle go back to the pool by approval's own timer, on real RabbitMQ."""

from nameko.standalone.rpc import ClusterRpcClient

from kernel.platform.config import get_settings
from kernel.platform.db import Database
from services.approval import review
from services.approval.service import ApprovalService
from tests.services.conftest import APPROVER
from tests.services.test_approval import validated
from tests.support.system import poll_until


def test_an_idle_claim_is_released_by_the_timer(container_factory, broker, migrated, lodge_env):
    with Database(migrated("approval"), "approval").unit_of_work() as uow:
        review.seed_reasons(uow.session)
        review.open_review(uow, "validated-idle", validated(deposit_id="idle"))
    container_factory(ApprovalService, broker).start()
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=20) as rpc:
        rpc.approval.claim(actor=APPROVER, deposit_id="idle")
        assert rpc.approval.queue(actor=APPROVER)["counts"]["mine"] == 1
        lodge_env.setenv("LODGE_CLAIM_IDLE_MINUTES", "0.02")  # 1.2 s
        get_settings.cache_clear()  # the next sweep reads it

        def released():
            counts = rpc.approval.queue(actor=APPROVER)["counts"]
            return counts if counts["unassigned"] == 1 else None

        counts = poll_until(
            released, timeout=30, interval=0.2, description="the idle claim going back to the pool"
        )
    assert counts["mine"] == 0
