"""Import real daily OHLCV price files into the bars contract (`python -m steps.import_prices`)."""
