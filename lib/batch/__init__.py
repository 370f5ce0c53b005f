"""Archive-scale inference bookkeeping: which film is which (keys), who works on it (claims), what is done
(results written atomically), and the summary a run leaves behind. No scheduler here: ``apps/batch`` runs it."""
