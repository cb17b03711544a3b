"""Imported by a worker pool's fork server (:data:`kquant.run.batch.WORKER_IMPORTS`,
which are module names): importing this module imports scikit-learn's k-means the
way a run does (:func:`kquant.core.kmeans.kmeans_module`), so that the workers the
server forks start with it loaded.
"""

from kquant.core.kmeans import kmeans_module

kmeans_module()
