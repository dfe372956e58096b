using System.CommandLine;
using PruneFuse.Bench;

// Every bench command's options are declared in its own file (System.CommandLine, as the console's are);
// `prunefuse-bench <command> --help` lists them with their defaults.
var root = new RootCommand("prunefuse-bench: PruneFuse's benchmarks and studies. With --json the last line of stdout is one JSON object; progress goes to stderr.")
{
    ScoringBenchmark.Command(),
    ScoringBenchmark.SweepCommand(),
    CostModelBenchmark.Command(),
    ClusterOverheadBenchmark.Command(),
    ScaleBenchmark.Command(),
    ScaleOutBenchmark.Command(),
    StudyBenchmark.Command(),
    ChaosBenchmark.Command(),
    ImportBenchmark.Command(),
    SweepPlot.Command(),
};
if (args.Length == 0 || args is ["help"])
{
    // No command: the list of commands, and exit 2 when nothing was asked for.
    await root.Parse("--help").InvokeAsync();
    return args.Length == 0 ? 2 : 0;
}
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
    var path = new List<string>();
    for (System.CommandLine.Parsing.SymbolResult? r = parsed.CommandResult; r is System.CommandLine.Parsing.CommandResult c; r = c.Parent) path.Insert(0, c.Command.Name);
    Console.Error.WriteLine($"see: {string.Join(" ", path)} --help");
    return 2;
}
return await parsed.InvokeAsync();
