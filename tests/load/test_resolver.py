"""The target's name is looked up once per TTL, not per connection (harness/load/resolver.py).

gevent must not be imported in the tests' process, so each check runs in a Python process
of its own, against gevent's real resolver (`localhost`, from /etc/hosts: no network)."""

from __future__ import annotations

import json
import textwrap

from tests.support.child_processes import PYTHON, run_to_exit

SCRIPT = textwrap.dedent('''
    from gevent import monkey
    monkey.patch_all()
    import json, socket, time
    import gevent
    from harness.load.resolver import CachingResolver, install

    class Counting:
        """gevent's own resolver, counting what reaches it (and slow, as a busy pool is)."""
        def __init__(self, inner):
            self.inner, self.calls = inner, []
        def getaddrinfo(self, *args):
            self.calls.append(args[0])
            gevent.sleep(0.2)
            if args[0] == "no-such-host.invalid":  # (no DNS query: the answer a resolver gives)
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return self.inner.getaddrinfo(*args)
        def gethostbyname(self, host):
            return "via-inner"

    hub = gevent.get_hub()
    counting = Counting(hub.resolver)
    hub.resolver = counting
    now = [0.0]
    cached = install(ttl_s=30.0)
    cached._clock = lambda: now[0]
    same = install() is cached

    # 50 connections' lookups at once: one reaches the resolver, all get its answer.
    answers = gevent.joinall([gevent.spawn(socket.getaddrinfo, "localhost", 80, 0, socket.SOCK_STREAM)
                              for _ in range(50)])
    first = {repr(sorted(g.value)) for g in answers}
    after_burst = len(counting.calls)
    socket.getaddrinfo("localhost", 80, 0, socket.SOCK_STREAM)
    within_ttl = len(counting.calls)
    now[0] = 31.0
    socket.getaddrinfo("localhost", 80, 0, socket.SOCK_STREAM)
    after_ttl = len(counting.calls)
    # A failure is shared by those waiting, and not kept.
    errors = []
    def fails():
        try:
            socket.getaddrinfo("no-such-host.invalid", 80)
        except socket.gaierror as exc:
            errors.append(type(exc).__name__)
    gevent.joinall([gevent.spawn(fails) for _ in range(5)])
    failing_lookups = counting.calls.count("no-such-host.invalid")
    fails()
    print(json.dumps({"same": same, "answers": len(first), "ok": all(g.successful() for g in answers),
                      "after_burst": after_burst, "within_ttl": within_ttl, "after_ttl": after_ttl,
                      "errors": errors, "failing_lookups": failing_lookups,
                      "failing_again": counting.calls.count("no-such-host.invalid"),
                      "passes_on": cached.gethostbyname("x") == "via-inner",
                      "counted": cached.lookups}))
''')


def test_one_lookup_per_name_and_ttl_shared_by_all_waiting() -> None:
    done = run_to_exit([PYTHON, "-c", SCRIPT], timeout=60)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["same"], "installed once"
    assert got["ok"] and got["answers"] == 1
    assert got["after_burst"] == 1, "50 lookups at once went to the resolver once"
    assert got["within_ttl"] == 1, "a lookup within the TTL is answered from the cache"
    assert got["after_ttl"] == 2, "past the TTL the name is looked up again"
    assert got["errors"] == ["gaierror"] * 6 and got["failing_lookups"] == 1, got
    assert got["failing_again"] == 2, "a failure is not kept"
    assert got["passes_on"]
    assert got["counted"] == 4
