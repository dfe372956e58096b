using System.CommandLine;
using PruneFuse.Client;
using PruneFuse.Client.Commands;

var root = new RootCommand("prunefuse: distributed active learning with PruneFuse (prune at init, select, fuse)");
root.Options.Add(Common.GatewayPort);
root.Options.Add(Common.GatewayHost);
root.Options.Add(Common.Certificate);
root.Options.Add(Common.Key);
root.Options.Add(Common.TrustedCa);
root.Options.Add(Common.Json);
root.Subcommands.Add(DatasetCommands.Dataset());
root.Subcommands.Add(ExperimentCommands.Experiment());
root.Subcommands.Add(SelectionCommands.Selections());
root.Subcommands.Add(LabelCommands.Labels());
root.Subcommands.Add(ModelCommands.Model());
root.Subcommands.Add(ClusterCommands.Cluster());
root.Subcommands.Add(ArchCommands.Arch());
root.Subcommands.Add(DemoCommand.Demo());
var parsed = root.Parse(PositionalIds.Rewrite(args));
if (parsed.Errors.Count > 0)
{
    // The errors and where to look, not the whole help page the default action prints after them.
    foreach (var error in parsed.Errors) Console.Error.WriteLine(error.Message);
    var path = new List<string>();
    for (System.CommandLine.Parsing.SymbolResult? r = parsed.CommandResult; r is System.CommandLine.Parsing.CommandResult c; r = c.Parent) path.Insert(0, c.Command.Name);
    Console.Error.WriteLine($"see: {string.Join(" ", path)} --help");
    return 1;
}
return await parsed.InvokeAsync();
