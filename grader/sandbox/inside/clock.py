"""The per-call clock's shared page: how a job's process tells the worker watching it that a call has ended.

The job's process records, after each call of student code, how many calls have ended and when, in
its job's slot of a page it shares with the worker (`MAP_SHARED`, made by the zygote before the
fork, one slot per job of the process). The zygote does not wake for it: it sleeps until the job's
process sends something, ends, or reaches its deadline, and only at the deadline reads the slots, to
see whether the clock restarted since. Before this page a call's end was a message the watching
process woke up to read, about 150 per submission.

What the page holds is written by student code's process, so the zygote believes it only within
bounds (`Reading.advance`): a count that grows, at most to the calls the jobs make, and a time no
later than when it is read and no earlier than the call before's; the grader holds each job's count
to that job's calls (`outcomes.JobChannel`).
"""

import math
import mmap
import struct
import time

# A slot: the time of the latest call's end, then (8 bytes on) the count of calls ended.
_TIME = struct.Struct("<d")
_COUNT = struct.Struct("<Q")
SLOT_BYTES = 16


class CallClock:
    """The page itself, on either side of the fork: one slot per job of the process."""

    def __init__(self, jobs):
        self.memory = mmap.mmap(-1, max(1, jobs) * SLOT_BYTES)  # anonymous and shared with the children

    def close(self):
        self.memory.close()


class Ticking:
    """The job's side: records each call's end in its slot. Bound at import, before any student code."""

    def __init__(self, clock, position, _pack_time=_TIME.pack_into, _pack_count=_COUNT.pack_into,
                 _monotonic=time.monotonic):
        self.memory = clock.memory if clock is not None else None
        self.offset = position * SLOT_BYTES
        self.count = 0
        self._pack_time, self._pack_count, self._monotonic = _pack_time, _pack_count, _monotonic

    def tick(self):
        self.count += 1
        if self.memory is not None:
            # The time first, then the count: a watcher that sees the new count sees this call's time with it.
            self._pack_time(self.memory, self.offset, self._monotonic())
            self._pack_count(self.memory, self.offset + 8, self.count)


def count(clock, position):
    """The count of calls ended that a job's slot holds, as written there (untrusted)."""
    return _COUNT.unpack_from(clock.memory, position * SLOT_BYTES + 8)[0]


class Reading:
    """The worker's side, for one job process: when its clock's deadline is, as far as its jobs' slots say.

    A call's end in any of its jobs restarts the clock: the count is the slots' total, the time the latest."""

    def __init__(self, clock, call_seconds, allowed):
        self.memory = clock.memory
        self.slots = len(clock.memory) // SLOT_BYTES
        self.call_seconds = call_seconds
        self.allowed = allowed  # calls its jobs make, plus one each
        self.seen = 0
        self.since = time.monotonic()  # the latest call's end, or the process's start
        self.deadline = self.since + call_seconds

    def count(self):
        return sum(_COUNT.unpack_from(self.memory, slot * SLOT_BYTES + 8)[0] for slot in range(self.slots))

    def advance(self):
        """Read the slots: None while they are within bounds (the deadline moved on if a call ended since), else
        why they are not (more calls than the jobs make, or a count that went back)."""
        count = self.count()
        if count == self.seen:
            return None
        if count > self.allowed:
            return "more calls reported than the job makes"
        if count < self.seen:
            return "a call count that went back"
        ended = max(_TIME.unpack_from(self.memory, slot * SLOT_BYTES)[0] for slot in range(self.slots))
        now = time.monotonic()
        # A time outside (the call before's end, now] is not believed: the call ended by now, at the latest.
        if not (math.isfinite(ended) and self.since < ended <= now):
            ended = now
        self.seen, self.since = count, ended
        self.deadline = ended + self.call_seconds
        return None
