"""Pure tensor loss functions, each citing its paper. The DPO family is chosen by `loss.name` through
`preference.PREFERENCE_LOSSES`; the other losses are called by the one algorithm that uses each."""
