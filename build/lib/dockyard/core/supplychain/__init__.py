"""What a layer installs: pure parsing of package databases and build info found in a layer
tar, whiteouts, and an image's inventory as its layers applied in order.

No I/O of its own: the layer walker reads a binary file object it is handed. Imports nothing
from dockyard outside ``core``; third-party: ``packageurl`` (purls).
"""
