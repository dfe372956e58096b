using System.CommandLine;
using PruneFuse.Client;

var root = new RootCommand("prunefuse: distributed active learning with PruneFuse (prune at init, select, fuse)");
root.Options.Add(Commands.GatewayPort);
root.Options.Add(Commands.GatewayHost);
root.Options.Add(Commands.Json);
root.Subcommands.Add(Commands.Dataset());
root.Subcommands.Add(Commands.Experiment());
root.Subcommands.Add(Commands.Selections());
root.Subcommands.Add(Commands.Labels());
root.Subcommands.Add(Commands.Model());
root.Subcommands.Add(ClusterCommands.Cluster());
root.Subcommands.Add(Commands.Demo());
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
