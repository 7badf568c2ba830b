"""demo25: Demo et al., *One gradient step never hurts* (the how-to example)."""
