"""My network from chapter 3, split into modules: parameters in `network`, learning in
`training`."""

from mynet.network import Network, feedforward

__all__ = ["Network", "feedforward"]
