"""A training script that imports its network from a sibling file (`from network import
Network`): the doctor finds and probes that class; its training runs only as a script.

expect: exit=0
"""

from network import Network

if __name__ == "__main__":
    net = Network([784, 30, 10])
    raise SystemExit("training needs MNIST, which this gallery does not ship")
