// The `prunefuse` console arrives with the cluster issue (#3); until then this entry point says so plainly.
Console.Error.WriteLine("prunefuse: the client console is not part of this build yet (see issue #3). Benchmarks: dotnet run -c Release --project bench -- --help");
return 2;
