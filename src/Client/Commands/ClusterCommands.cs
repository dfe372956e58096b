using System.CommandLine;
using System.Text.Json;
using Spectre.Console;

namespace PruneFuse.Client.Commands;

/// <summary>One silo as <c>cluster status</c> shows it.</summary>
/// <param name="Address">Silo address (ip:port@generation).</param>
/// <param name="Name">Silo name.</param>
/// <param name="Status">Orleans membership status: Active, Joining, ShuttingDown, Dead…</param>
/// <param name="GatewayPort">The port clients connect to (0: not a gateway).</param>
/// <param name="StartedAt">When this incarnation started.</param>
/// <param name="Grains">Activations of PruneFuse grains on the silo, by grain (coordinator, selector, poolshard, fusion, …).</param>
public sealed record ClusterSilo(string Address, string Name, string Status, int GatewayPort, DateTime StartedAt, Dictionary<string, int> Grains);

/// <summary><c>prunefuse cluster …</c>: what the cluster is made of, from Orleans' membership and management grain.</summary>
public static class ClusterCommands
{
    /// <summary>The <c>cluster</c> command.</summary>
    public static Command Cluster()
    {
        var all = new Option<bool>("--all") { Description = "Include silos that are dead or shut down (kept in the membership table for a while)" };
        var status = new Command("status", "Silos of the cluster: address, status, gateway port, and the PruneFuse grains each one hosts") { all };
        status.SetAction((p, ct) => Common.Run(p, async (c, json) =>
        {
            var management = c.GetGrain<IManagementGrain>(0);
            var hosts = await management.GetDetailedHosts(onlyActive: !p.GetValue(all));
            var stats = await management.GetDetailedGrainStatistics(null, null);
            var silos = hosts.OrderBy(h => h.SiloAddress.Endpoint.Port).ThenBy(h => h.SiloAddress.Generation).Select(h => new ClusterSilo(
                h.SiloAddress.ToParsableString(), h.SiloName, h.Status.ToString(), h.ProxyPort, h.StartTime,
                stats.Where(s => s.SiloAddress.Equals(h.SiloAddress) && s.GrainType.StartsWith("PruneFuse.", StringComparison.Ordinal))
                    .GroupBy(s => GrainName(s.GrainType)).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count()))).ToArray();
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(new { silos }, Reports.Camel));
                return 0;
            }
            var t = new Table().AddColumns("silo", "name", "status", "gateway", "started (UTC)", "PruneFuse grains");
            foreach (var s in silos)
            {
                t.AddRow(Markup.Escape(s.Address), Markup.Escape(s.Name), s.Status, s.GatewayPort > 0 ? s.GatewayPort.ToString() : "-", s.StartedAt.ToString("yyyy-MM-dd HH:mm:ss"),
                    Markup.Escape(string.Join(", ", s.Grains.Select(g => $"{g.Key} {g.Value}"))));
            }
            AnsiConsole.Write(t);
            return 0;
        }, ct));
        var cmd = new Command("cluster", "Inspect the cluster");
        cmd.Subcommands.Add(status);
        return cmd;
    }

    // "PruneFuse.Grains.PoolShardGrain" (possibly with an assembly suffix) -> "poolshard".
    private static string GrainName(string type)
    {
        var name = type.Split(',')[0].Split('.')[^1];
        return (name.EndsWith("Grain", StringComparison.Ordinal) ? name[..^5] : name).ToLowerInvariant();
    }
}
