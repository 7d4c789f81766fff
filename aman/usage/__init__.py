"""What the model calls cost, who spent it and why; budgets that keep background work cheap."""
