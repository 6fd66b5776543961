"""Figures for the course: classic filters, learned filters, feature maps, training and evaluation plots.

Every function returns a :class:`matplotlib.figure.Figure` and shows nothing: as the last
expression of a notebook cell it is displayed once; in a script, ``fig.savefig("name.png")``.
Figures are made without pyplot, so no figure is left open behind the caller's back.

Modules, one per thing shown: ``kernels`` (hand-made kernels on photos), ``filters``
(a trained layer's filters and what excites them), ``feature_maps``, ``training``
(history, learning rate), ``evaluation`` (confusion matrix, mistakes), ``leaderboard``
(accuracy against size and training time), ``boundaries`` (2-D decision regions),
``optimization`` (activations, gradient norms, optimizer paths), ``comparison`` (several
training runs on one figure), ``costs`` (parameters and MACs of models side by side).
"""

from cnnlab.viz.boundaries import plot_decision_boundaries, plot_decision_boundary
from cnnlab.viz.comparison import plot_histories
from cnnlab.viz.costs import plot_costs
from cnnlab.viz.evaluation import confusion_matrix, plot_confusion_matrix, plot_examples, plot_misclassified
from cnnlab.viz.feature_maps import feature_maps, plot_feature_maps
from cnnlab.viz.filters import filter_patterns, filter_weights, pattern_images, plot_filters
from cnnlab.viz.kernels import KERNELS, SAMPLE_IMAGES, apply_filter, plot_filter_response, sample_image
from cnnlab.viz.leaderboard import plot_leaderboard
from cnnlab.viz.optimization import plot_activations, plot_gradient_norms, plot_optimizer_paths
from cnnlab.viz.training import learning_rates, plot_history, plot_lr_schedule

__all__ = [
    "KERNELS", "SAMPLE_IMAGES", "apply_filter", "confusion_matrix", "feature_maps", "filter_patterns",
    "filter_weights", "learning_rates", "pattern_images", "plot_activations", "plot_confusion_matrix",
    "plot_decision_boundaries", "plot_decision_boundary", "plot_examples", "plot_feature_maps",
    "plot_costs", "plot_filter_response", "plot_filters", "plot_gradient_norms", "plot_histories",
    "plot_history", "plot_leaderboard", "plot_lr_schedule", "plot_misclassified",
    "plot_optimizer_paths", "sample_image",
]
