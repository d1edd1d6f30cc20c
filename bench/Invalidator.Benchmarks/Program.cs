using Invalidator.Benchmarks;

return await BenchmarkCommand.RunAsync(args).ConfigureAwait(false);
