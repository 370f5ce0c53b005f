"""Archive-scale inference: the pipeline over a folder or a DICOMweb server on Ray (``python main.py batch-infer``)."""
