"""Python side of the MLP optimizers: configuration and the per-epoch
learning-rate schedule, as in scikit-learn's ``_stochastic_optimizers``.

The per-step updates (Adam moments, SGD velocities, the parameter update
with the L2 gradient folded in) run in C inside the network
(:class:`fastact._mlp_core.Network`), which also holds their state.  These
objects only decide what happens between epochs: ``iteration_ends`` adjusts
the learning rate (invscaling) and ``trigger_stopping`` decides whether a
plateau stops training or divides the learning rate by 5 (adaptive).
"""


class SGDOptimizer:
    """Stochastic gradient descent with momentum (optionally Nesterov's).

    Parameters
    ----------
    learning_rate_init : float
        Initial learning rate.
    lr_schedule : {"constant", "invscaling", "adaptive"}
        How the learning rate changes between epochs.
    momentum : float
        Momentum in [0, 1].
    nesterov : bool
        Use Nesterov's momentum.
    power_t : float
        Exponent of the invscaling schedule.

    Attributes
    ----------
    learning_rate : float
        The current learning rate (the network steps with it).
    """

    def __init__(self, learning_rate_init=0.1, lr_schedule="constant", momentum=0.9,
                 nesterov=True, power_t=0.5):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t

    def start(self, network):
        """Reset the optimizer state held by the network (zero velocities)."""
        network.set_sgd(self.learning_rate_init, self.momentum, self.nesterov)
        self.learning_rate = float(self.learning_rate_init)

    def epoch_ends(self, network):
        """Read back the state the network changed during the epoch."""

    def iteration_ends(self, network, time_step):
        """invscaling: learning_rate = learning_rate_init / (t + 1) ** power_t,
        t the number of samples seen so far."""
        if self.lr_schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (time_step + 1) ** self.power_t
            network.learning_rate = self.learning_rate

    def trigger_stopping(self, network, msg, verbose):
        """True to stop; for 'adaptive', divide the learning rate by 5 and go on
        until it falls to 1e-6."""
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        network.learning_rate = self.learning_rate
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


class AdamOptimizer:
    """Adam (Kingma & Ba), with scikit-learn's bias-corrected step size
    ``learning_rate_init * sqrt(1 - beta_2**t) / (1 - beta_1**t)``.

    Parameters
    ----------
    learning_rate_init : float
        Step size.
    beta_1, beta_2 : float
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float
        Added to the square root of the second moment.

    Attributes
    ----------
    learning_rate : float
        The step size of the last update, bias corrections included.
    t : int
        Number of updates made.
    """

    def __init__(self, learning_rate_init=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = 0

    def start(self, network):
        """Reset the optimizer state held by the network (zero moments, t = 0)."""
        network.set_adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
        self.learning_rate = float(self.learning_rate_init)
        self.t = 0

    def epoch_ends(self, network):
        """Read back the state the network changed during the epoch."""
        self.learning_rate = network.learning_rate
        self.t = network.adam_steps

    def iteration_ends(self, network, time_step):
        pass

    def trigger_stopping(self, network, msg, verbose):
        if verbose:
            print(msg + " Stopping.")
        return True
