"""Publisher confirms as a channel reports them: one delivery tag, or every tag up to one
(`multiple`), acked or nacked. The real channel's path is in tests/interface (the outbox
relays and the gateway's RPC pool on RabbitMQ)."""

from collections import defaultdict

from kernel.platform.messaging import Confirms


class Channel:
    def __init__(self) -> None:
        self.events: defaultdict[str, set] = defaultdict(set)
        self.confirming = False

    def confirm_select(self) -> None:
        self.confirming = True

    def tell(self, event: str, tag: int, multiple: bool) -> None:
        for callback in self.events[event]:
            callback(tag, multiple)


def test_confirms_settle_one_tag_or_every_tag_up_to_one():
    channel = Channel()
    confirms = Confirms(channel)
    assert channel.confirming
    for key in ("a", "b", "c", "d"):
        confirms.sent(key)
    channel.tell("basic_ack", 2, True)
    assert confirms.waiting == {3: "c", 4: "d"}
    channel.tell("basic_nack", 4, False)
    assert confirms.waiting == {3: "c"} and confirms.nacked == ["d"]
    channel.tell("basic_ack", 9, False)  # a tag it never sent changes nothing
    channel.tell("basic_nack", 3, True)
    assert confirms.waiting == {} and confirms.nacked == ["d", "c"]
