"""The machine's memory: the one probe behind every default memory limit.

Each caller takes its own documented fraction of it (neighbour lists, stored derivatives,
training), as a named constant where the limit is used.
"""
import os

# When the operating system does not say (no sysconf), assume a modest workstation.
FALLBACK_BYTES = 16 * 2**30


def physical_memory():
    """Bytes of physical memory of this machine, or FALLBACK_BYTES when unknown."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return FALLBACK_BYTES
