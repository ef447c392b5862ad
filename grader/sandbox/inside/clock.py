"""The per-call clock's shared page: how a job's process tells its leader that a call has ended.

The job's process records, after each call of student code, how many calls have ended and when, in
its job's slot of a page it shares with its leader (`MAP_SHARED`, made by the leader before the
fork, one slot per job of the process). The leader does not wake for it: it sleeps until the job's
result or its deadline, and only at the deadline reads the slot, to see whether the clock restarted
since. Before this page a call's end was a message the leader woke up to read, about 150 per
submission.

What the page holds is written by student code's process, so the leader believes it only within
bounds (`Reading.advance`): a count that grows, at most to the calls the job makes, and a time no
later than when it is read and no earlier than the call before's.
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
            # The time first, then the count: a leader that sees the new count sees this call's time with it.
            self._pack_time(self.memory, self.offset, self._monotonic())
            self._pack_count(self.memory, self.offset + 8, self.count)


class Reading:
    """The leader's side, for one job: when its clock's deadline is, as far as the job's slot says."""

    def __init__(self, clock, position, call_seconds, allowed):
        self.memory = clock.memory
        self.offset = position * SLOT_BYTES
        self.call_seconds = call_seconds
        self.allowed = allowed  # calls the job makes, plus one
        self.seen = 0
        self.since = time.monotonic()  # the latest call's end, or the job's start
        self.deadline = self.since + call_seconds

    def count(self):
        return _COUNT.unpack_from(self.memory, self.offset + 8)[0]

    def advance(self):
        """Read the slot: None while it is within bounds (the deadline moved on if a call ended since), else
        why it is not (more calls than the job makes, or a count that went back)."""
        count = self.count()
        if count == self.seen:
            return None
        if count > self.allowed:
            return "more calls reported than the job makes"
        if count < self.seen:
            return "a call count that went back"
        (ended,) = _TIME.unpack_from(self.memory, self.offset)
        now = time.monotonic()
        # A time outside (the call before's end, now] is not believed: the call ended by now, at the latest.
        if not (math.isfinite(ended) and self.since < ended <= now):
            ended = now
        self.seen, self.since = count, ended
        self.deadline = ended + self.call_seconds
        return None
