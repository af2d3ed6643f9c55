using Registry.Benchmarks;

return await BenchCommand.RunAsync(args);
