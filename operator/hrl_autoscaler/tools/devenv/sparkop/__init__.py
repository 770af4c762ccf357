"""The Spark Operator's submission role on the local node: ``spark-submit`` from a
SparkApplication's spec (:mod:`.spec`), its pods as ``status`` (:mod:`.status`), and the loop
that does both (:mod:`.controller`)."""
