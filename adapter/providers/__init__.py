"""Provider clients: the only modules that import the stripe and chargebee SDKs."""
