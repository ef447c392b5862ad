"""word_embedding_backward tries the network: the grader's machine (a listener the test opened), the
internet, DNS, UDP, and a Unix socket in the grader's folders. It reports what worked."""
import os
import socket

import numpy as np


def word_embedding_backward(dout, cache):
    worked = []

    def attempt(label, action):
        try:
            action()
            worked.append(label)
        except BaseException:
            pass

    host, port = TARGETS["listener"]

    def tcp_local():
        with socket.create_connection((host, port), timeout=1) as connection:
            connection.sendall(b"hostile")

    def udp_local():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"hostile", (host, port))

    def unix():
        with socket.socket(socket.AF_UNIX) as local:
            local.settimeout(1)
            local.connect(TARGETS["unix_socket"])

    attempt("tcp to the grader's machine", tcp_local)
    try:
        udp_local()  # sent or not, only the test's listener can tell whether it arrived
    except OSError:
        pass
    attempt("tcp to the internet", lambda: socket.create_connection(("1.1.1.1", 53), timeout=1).close())
    attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
    attempt("unix socket", unix)
    raise RuntimeError("CONNECTED: %s" % ", ".join(worked))
