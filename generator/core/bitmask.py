"""Boolean pixel masks that travel to worker processes as bits.

Owns :class:`Bitmask`: a boolean array (a region's inside, a border's pixels) that is serialized
(``__reduce__``) as ``numpy.packbits`` of itself, an eighth of its bytes. A 512-px frame's mask
is 256 KiB as booleans; the tasks of one animation carry a few of them each, and every byte of a
task's arguments is serialized, piped and copied again on the other side. The bits are packed
once per mask, however often it is sent, and one ``Bitmask`` object shared by several values of
one task is sent once (the serializer writes an object it meets twice once).
"""

from __future__ import annotations

import numpy as np


class Bitmask:
    """A read-only boolean ``array``, serialized as its packed bits and shape."""

    __slots__ = ("_bits", "array")

    def __init__(self, array: np.ndarray) -> None:
        mask = np.asarray(array, dtype=bool)
        if mask.flags.writeable:
            mask = mask.copy()
            mask.flags.writeable = False
        self.array = mask
        self._bits: bytes | None = None

    def __reduce__(self) -> tuple[object, tuple[bytes, tuple[int, ...]]]:
        if self._bits is None:
            self._bits = np.packbits(self.array).tobytes()
        return (unpack_bitmask, (self._bits, self.array.shape))


def unpack_bitmask(bits: bytes, shape: tuple[int, ...]) -> Bitmask:
    """The :class:`Bitmask` of ``bits`` (``numpy.packbits`` of a boolean array of ``shape``)."""
    size = int(np.prod(shape))
    array = np.unpackbits(np.frombuffer(bits, dtype=np.uint8), count=size).reshape(shape).view(bool)
    array.flags.writeable = False
    mask = Bitmask.__new__(Bitmask)
    mask.array = array
    mask._bits = bits
    return mask


__all__ = ["Bitmask", "unpack_bitmask"]
