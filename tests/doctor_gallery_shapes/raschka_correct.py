"""Shape 5: a Raschka-style estimator. `NeuralNetMLP(n_hidden=30, l2=0.01, epochs=100,
eta=0.001, minibatch_size=10, seed=1)` creates its weights in `fit(X_train, y_train)`
(`self.w_h`: n_features × n_hidden, `self.b_h`: (n_hidden,), `self.w_out`, `self.b_out`),
examples as rows, integer labels one-hot encoded inside; the update is inline in fit's loop
over mini-batches. Unlike the textbook convention this learner divides as the book does:
the mean gradient over the mini-batch plus (λ/n)·w, n = len(X_train) (λ is `self.l2`).
Correct.

expect: exit=0
"""

import numpy as np


class NeuralNetMLP:
    def __init__(self, n_hidden=30, l2=0.01, epochs=100, eta=0.001, minibatch_size=10, seed=1):
        self.random = np.random.RandomState(seed)
        self.n_hidden = n_hidden
        self.l2 = l2
        self.epochs = epochs
        self.eta = eta
        self.minibatch_size = minibatch_size

    def _onehot(self, y, n_classes):
        return np.eye(n_classes)[y]

    def _sigmoid(self, z):
        return 1.0 / (1.0 + np.exp(-np.clip(z, -250, 250)))

    def _forward(self, X):
        z_h = np.dot(X, self.w_h) + self.b_h
        a_h = self._sigmoid(z_h)
        z_out = np.dot(a_h, self.w_out) + self.b_out
        a_out = self._sigmoid(z_out)
        return z_h, a_h, z_out, a_out

    def predict(self, X):
        return np.argmax(self._forward(X)[2], axis=1)

    def fit(self, X_train, y_train):
        n_output = np.unique(y_train).shape[0]
        n_features = X_train.shape[1]
        n_samples = X_train.shape[0]
        self.b_h = np.zeros(self.n_hidden)
        self.w_h = self.random.normal(loc=0.0, scale=0.1, size=(n_features, self.n_hidden))
        self.b_out = np.zeros(n_output)
        self.w_out = self.random.normal(loc=0.0, scale=0.1, size=(self.n_hidden, n_output))
        y_train_enc = self._onehot(y_train, n_output)
        self.eval_ = {"train_acc": []}
        for _ in range(self.epochs):
            indices = self.random.permutation(n_samples)
            for start in range(0, n_samples - self.minibatch_size + 1, self.minibatch_size):
                batch_idx = indices[start : start + self.minibatch_size]
                m = len(batch_idx)
                z_h, a_h, z_out, a_out = self._forward(X_train[batch_idx])
                sigma_out = a_out - y_train_enc[batch_idx]
                sigma_h = np.dot(sigma_out, self.w_out.T) * a_h * (1.0 - a_h)
                grad_w_h = np.dot(X_train[batch_idx].T, sigma_h)
                grad_b_h = np.sum(sigma_h, axis=0)
                grad_w_out = np.dot(a_h.T, sigma_out)
                grad_b_out = np.sum(sigma_out, axis=0)
                # mean gradient of the batch; L2 scaled by the training-set size
                delta_w_h = grad_w_h / m + (self.l2 / n_samples) * self.w_h
                delta_w_out = grad_w_out / m + (self.l2 / n_samples) * self.w_out
                self.w_h -= self.eta * delta_w_h
                self.b_h -= self.eta * grad_b_h / m  # the bias is not regularized
                self.w_out -= self.eta * delta_w_out
                self.b_out -= self.eta * grad_b_out / m
            self.eval_["train_acc"].append(np.mean(self.predict(X_train) == y_train))
        return self


if __name__ == "__main__":
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    nn = NeuralNetMLP(n_hidden=30, l2=5.0, epochs=3, eta=0.5, minibatch_size=10)
    nn.fit(X[:1000] / 16.0, y[:1000])
    print("training accuracy per epoch:", [round(float(acc), 3) for acc in nn.eval_["train_acc"]])
