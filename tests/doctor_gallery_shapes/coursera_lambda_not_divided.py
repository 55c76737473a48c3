"""Shape 3: a Coursera-style file of functions and a dict. `initialize_parameters(layer_dims)`
gives {"W1": (n1, n0), "b1": (n1, 1), ...}; `forward_propagation(X, parameters)` takes the
examples as COLUMNS and returns (AL, cache), the cache holding each layer's W;
`backward_propagation_with_regularization(X, Y, cache, lambd)` adds the L2 term to dW;
`update_parameters(parameters, grads, learning_rate)` returns the dict; `model(...)` runs
full-batch gradient descent. ONE output unit (sigmoid, binary labels): W3 is (1, 3), b3 is
(1, 1), and b2 (3, 1) has as many entries as W3.
Full batch: m = X.shape[1] is the whole training set (m = n). The cost's penalty is right,
(1/m)(λ/2)·Σ‖W‖², but the mistake is in the gradient: the L2 term is λ·W, not (λ/m)·W
(line `grads["dW" + str(l)] = 1.0 / m * np.dot(dZ, A_prev.T) + lambd * W`).

planted: line 67
expect: exit=1 mistakes=lambda-not-divided notes=penalty-in-gradients
"""

import numpy as np


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def relu(Z):
    return np.maximum(0, Z)


def initialize_parameters(layer_dims):
    np.random.seed(3)
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W" + str(l)] = np.random.randn(layer_dims[l], layer_dims[l - 1]) * np.sqrt(
            2.0 / layer_dims[l - 1]
        )
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def forward_propagation(X, parameters):
    """LINEAR -> RELU for the hidden layers, LINEAR -> SIGMOID for the output unit."""
    L = len(parameters) // 2
    cache = []
    A = X
    for l in range(1, L + 1):
        W, b = parameters["W" + str(l)], parameters["b" + str(l)]
        Z = np.dot(W, A) + b
        A_prev, A = A, (sigmoid(Z) if l == L else relu(Z))
        cache.append((A_prev, W, b, Z, A))
    return A, cache


def compute_cost_with_regularization(AL, Y, parameters, lambd):
    m = Y.shape[1]
    L = len(parameters) // 2
    cross_entropy_cost = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m
    squares = sum(np.sum(np.square(parameters["W" + str(l)])) for l in range(1, L + 1))
    L2_regularization_cost = (1 / m) * (lambd / 2) * squares
    return cross_entropy_cost + L2_regularization_cost


def backward_propagation_with_regularization(X, Y, cache, lambd):
    m = X.shape[1]
    L = len(cache)
    grads = {}
    dZ = cache[-1][4] - Y  # sigmoid output with cross-entropy
    for l in reversed(range(1, L + 1)):
        A_prev, W, b, Z, A = cache[l - 1]
        grads["dW" + str(l)] = 1.0 / m * np.dot(dZ, A_prev.T) + lambd * W
        grads["db" + str(l)] = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
        if l > 1:
            dA_prev = np.dot(W.T, dZ)
            dZ = dA_prev * (cache[l - 2][3] > 0)  # relu'
    return grads


def update_parameters(parameters, grads, learning_rate):
    L = len(parameters) // 2
    for l in range(1, L + 1):
        parameters["W" + str(l)] = parameters["W" + str(l)] - learning_rate * grads["dW" + str(l)]
        parameters["b" + str(l)] = parameters["b" + str(l)] - learning_rate * grads["db" + str(l)]
    return parameters


def model(X, Y, learning_rate=0.3, num_iterations=3000, lambd=0.7, print_cost=False):
    layers_dims = [X.shape[0], 20, 3, 1]
    parameters = initialize_parameters(layers_dims)
    for i in range(num_iterations):
        AL, cache = forward_propagation(X, parameters)
        cost = compute_cost_with_regularization(AL, Y, parameters, lambd)
        grads = backward_propagation_with_regularization(X, Y, cache, lambd)
        parameters = update_parameters(parameters, grads, learning_rate)
        if print_cost and i % 1000 == 0:
            print(f"Cost after iteration {i}: {cost}")
    return parameters


def predict(X, parameters):
    AL, _ = forward_propagation(X, parameters)
    return (AL > 0.5).astype(int)


if __name__ == "__main__":
    from sklearn.datasets import make_moons

    train_X, train_y = make_moons(n_samples=300, noise=0.2, random_state=1)
    train_X, train_Y = train_X.T, train_y.reshape(1, -1)
    parameters = model(train_X, train_Y, print_cost=True)
    print("On the train set: accuracy", np.mean(predict(train_X, parameters) == train_Y))
