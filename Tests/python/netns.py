"""Test hosts in network namespaces (issue 22): each devnet node gets its own namespace and address,
so a partition is a real dropped link and a slow link real latency.

    net = netns.Network(4)            # namespaces gnkt-PID-n0…n3, a bridge gkbPID, a private /24
    net.hosts()                       # ["gnkt-PID-n0=10.213.X.2", …] for `gonka devnet up --netns`
    net.slow(2, delay_ms=200, jitter_ms=50, loss_pct=2)   # tc netem on node 2's link, both ways
    net.cut(3); net.restore(3)        # node 3's link down (a partition) and up again
    net.close()                       # kills what runs in the namespaces, deletes them and the bridge

Layout: one veth pair per node, `eth0` inside the node's namespace (address 10.213.X.(K+2)/24, lo
up), the other end on the bridge, which holds 10.213.X.1/24 for this machine: traffic flows only
between these namespaces and this machine, on addresses the test itself assigned, and nothing is
routed anywhere else (the namespaces have no default route).

Teardown always happens: `close()` is registered with atexit and SIGTERM/SIGINT/SIGHUP handlers
(which exit through atexit), and a new `Network` first sweeps namespaces and bridges with this
library's prefix whose creating process is gone (a test killed with SIGKILL).

`unavailable()` says why namespaces cannot be used here (not root, no iproute2, no permission), or
None; tests skip with that message.
"""

import atexit
import os
import re
import signal
import socket
import subprocess
import time

PREFIX = "gnkt"          # namespaces: gnkt-PID-nK
BRIDGE_PREFIX = "gkb"    # bridges: gkbPID
VETH_PREFIX = "gk"       # host ends: gkPIDhK
_NAME = re.compile(r"^%s-(\d+)-n(\d+)$" % PREFIX)
_BRIDGE = re.compile(r"^%s(\d+)$" % BRIDGE_PREFIX)


def _run(*args, check=True, timeout=20):
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), out.returncode, (out.stderr or out.stdout).strip()))
    return out


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _which(name):
    for directory in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]:
        path = os.path.join(directory, name)
        if directory and os.access(path, os.X_OK):
            return path
    return None


def unavailable():
    """Why namespaces cannot be used here, or None when they can (checked by making one)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (ip netns add); run as root or use the loopback devnet"
    for tool in ("ip", "tc"):
        if not _which(tool):
            return "iproute2's `%s` is missing (apt-get install iproute2)" % tool
    probe = "%s-%d-probe" % (PREFIX, os.getpid())
    try:
        out = _run("ip", "netns", "add", probe, check=False)
        if out.returncode != 0:
            return "cannot create a network namespace: " + (out.stderr or out.stdout).strip()
        out = _run("ip", "link", "add", probe[:15], "type", "bridge", check=False)
        if out.returncode != 0:
            return "cannot create a bridge: " + (out.stderr or out.stdout).strip()
        _run("ip", "link", "del", probe[:15], check=False)
    finally:
        _run("ip", "netns", "del", probe, check=False)
    return None


def sweep():
    """Deletes namespaces and bridges with this library's names whose creating process is gone;
    returns the names removed. Never touches names of a live process (another test running now)."""
    removed = []
    listing = _run("ip", "netns", "list", check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NAME.match(name) or re.match(r"^%s-(\d+)-probe$" % PREFIX, name)
        if m and not _alive(int(m.group(1))):
            _kill_inside(name)
            _run("ip", "netns", "del", name, check=False)
            removed.append(name)
    links = _run("ip", "-o", "link", "show", "type", "bridge", check=False).stdout
    for line in links.splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        m = _BRIDGE.match(name)
        if m and not _alive(int(m.group(1))):
            _run("ip", "link", "del", name, check=False)
            removed.append(name)
    return removed


def _kill_inside(namespace):
    """SIGKILL to every process in the namespace (a node, its llama-server), then waits for them."""
    pids = [int(p) for p in _run("ip", "netns", "pids", namespace, check=False).stdout.split() if p.isdigit()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)


def _subnet():
    """A 10.213.X.0/24 no interface or route on this machine uses (X from this pid, then the next free)."""
    used = _run("ip", "-4", "-o", "addr", "show", check=False).stdout + _run("ip", "-4", "route", check=False).stdout
    start = os.getpid() % 250
    for i in range(250):
        x = (start + i) % 250 + 1
        if "10.213.%d." % x not in used:
            return "10.213.%d" % x
    raise RuntimeError("no free 10.213.X.0/24")


_handlers_installed = []
_open = []


def _close_all():
    for network in list(_open):
        network.close()


def _on_signal(signum, _frame):
    _close_all()
    # Exit through atexit (the devnet's own cleanup there runs too).
    raise SystemExit(128 + signum)


def _install_handlers():
    if _handlers_installed:
        return
    _handlers_installed.append(True)
    atexit.register(_close_all)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        try:
            if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler, None):
                signal.signal(signum, _on_signal)
        except ValueError:
            pass  # not the main thread: atexit still covers a normal exit


class Network:
    """`count` namespaces on one bridge; see the module doc."""

    def __init__(self, count):
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        sweep()
        _install_handlers()
        self.pid = os.getpid()
        self.count = count
        self.bridge = "%s%d" % (BRIDGE_PREFIX, self.pid)
        self.subnet = _subnet()
        self.host_address = self.subnet + ".1"
        self.namespaces = ["%s-%d-n%d" % (PREFIX, self.pid, k) for k in range(count)]
        self.addresses = ["%s.%d" % (self.subnet, k + 2) for k in range(count)]
        self.links = ["%s%dh%d" % (VETH_PREFIX, self.pid, k) for k in range(count)]
        self.faults = {}   # node → what is applied now ("slow …", "cut")
        self.closed = False
        _open.append(self)
        try:
            _run("ip", "link", "add", self.bridge, "type", "bridge")
            _run("ip", "addr", "add", self.host_address + "/24", "dev", self.bridge)
            _run("ip", "link", "set", self.bridge, "up")
            for k in range(count):
                ns, link, peer = self.namespaces[k], self.links[k], self.links[k] + "p"
                _run("ip", "netns", "add", ns)
                _run("ip", "-n", ns, "link", "set", "lo", "up")
                _run("ip", "link", "add", link, "type", "veth", "peer", "name", peer)
                _run("ip", "link", "set", peer, "netns", ns)
                _run("ip", "-n", ns, "link", "set", peer, "name", "eth0")
                _run("ip", "-n", ns, "addr", "add", self.addresses[k] + "/24", "dev", "eth0")
                _run("ip", "-n", ns, "link", "set", "eth0", "up")
                _run("ip", "link", "set", link, "master", self.bridge)
                _run("ip", "link", "set", link, "up")
            for k in range(count):
                self.wait_reachable(k, 10)
        except Exception:
            self.close()
            raise

    def hosts(self):
        """`NAME=ADDRESS` per node, for `gonka devnet up --netns`."""
        return ["%s=%s" % (ns, address) for ns, address in zip(self.namespaces, self.addresses)]

    def reachable(self, k, timeout=1.0):
        """Whether node k's address answers from this machine: a TCP connect to port 9 (nothing
        listens: a refusal is an answer; a timeout or an unreachable host is not)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            try:
                s.connect((self.addresses[k], 9))
                return True
            except ConnectionRefusedError:
                return True
            except OSError:
                return False

    def wait_reachable(self, k, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.reachable(k):
                return
            time.sleep(0.2)
        raise RuntimeError("%s (%s) is not reachable from this machine" % (self.namespaces[k], self.addresses[k]))

    def _qdisc(self, k, *spec):
        # Both directions: this machine's end of the veth (towards the node) and the node's eth0.
        first = _run("tc", "qdisc", "replace", "dev", self.links[k], "root", *spec, check=False)
        if first.returncode != 0:
            return (first.stderr or first.stdout).strip()
        _run("ip", "netns", "exec", self.namespaces[k], "tc", "qdisc", "replace", "dev", "eth0", "root", *spec)
        return None

    def slow(self, k, delay_ms=200, jitter_ms=50, loss_pct=2.0):
        """A slow link to node k, each way: tc netem delay ± jitter (normal), loss %. Where the
        kernel has no netem (sch_netem not built, as in some VMs), a token bucket (tbf) at 64 kbit/s
        with a 500 ms queue instead: a full-size packet then takes ~190 ms to cross and a burst
        queues and drops, real but load-dependent slowness. Returns what was applied."""
        error = self._qdisc(k, "netem", "delay", "%dms" % delay_ms, "%dms" % jitter_ms, "distribution", "normal",
                            "loss", "%g%%" % loss_pct)
        if error is None:
            self.faults[k] = "slow (netem %d±%d ms, %g%% loss)" % (delay_ms, jitter_ms, loss_pct)
        else:
            fallback = self._qdisc(k, "tbf", "rate", "64kbit", "burst", "1600", "latency", "500ms")
            if fallback is not None:
                raise RuntimeError("neither netem (%s) nor tbf (%s) on %s" % (error, fallback, self.links[k]))
            self.faults[k] = "slow (tbf 64 kbit/s, 500 ms queue: no netem in this kernel)"
        return self.faults[k]

    def clear(self, k):
        """Removes node k's netem (a no-op when none)."""
        _run("tc", "qdisc", "del", "dev", self.links[k], "root", check=False)
        _run("ip", "netns", "exec", self.namespaces[k], "tc", "qdisc", "del", "dev", "eth0", "root", check=False)
        if self.faults.get(k, "").startswith("slow"):
            del self.faults[k]

    def cut(self, k):
        """Node k's link goes down: it reaches nobody (the other nodes, this machine) and nobody it."""
        _run("ip", "link", "set", self.links[k], "down")
        self.faults[k] = "cut"

    def restore(self, k):
        """Node k's link comes back up."""
        _run("ip", "link", "set", self.links[k], "up")
        self.faults.pop(k, None)
        self.wait_reachable(k, 10)

    def close(self):
        """Kills every process in the namespaces, deletes them and the bridge. Idempotent."""
        if self.closed or os.getpid() != self.pid:
            return
        self.closed = True
        for ns in self.namespaces:
            _kill_inside(ns)
            _run("ip", "netns", "del", ns, check=False)
        _run("ip", "link", "del", self.bridge, check=False)
        if self in _open:
            _open.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
