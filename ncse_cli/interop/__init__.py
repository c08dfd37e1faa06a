"""Reading models of other toolkits into ncse model directories."""
