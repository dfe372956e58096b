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
return await root.Parse(args).InvokeAsync();
