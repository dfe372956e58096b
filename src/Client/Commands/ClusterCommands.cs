using System.CommandLine;
using System.Text.Json;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Interfaces.Security;
using Spectre.Console;

namespace PruneFuse.Client.Commands;

/// <summary>One silo as <c>cluster status</c> shows it.</summary>
/// <param name="Address">Silo address (ip:port@generation).</param>
/// <param name="Name">Silo name.</param>
/// <param name="Status">Orleans membership status: Active, Joining, ShuttingDown, Dead…</param>
/// <param name="GatewayPort">The port clients connect to (0: not a gateway).</param>
/// <param name="StartedAt">When this incarnation started.</param>
/// <param name="Grains">Activations of PruneFuse grains on the silo, by grain (coordinator, selector, scoringworker, fusion, …).</param>
/// <param name="Scoring">Its share of each running experiment's current (or last) round of scoring.</param>
public sealed record ClusterSilo(string Address, string Name, string Status, int GatewayPort, DateTime StartedAt, Dictionary<string, int> Grains, ClusterScoring[] Scoring);

/// <summary>A silo's share of one experiment's current round of scoring.</summary>
/// <param name="Experiment">Experiment id.</param>
/// <param name="Round">Round being scored.</param>
/// <param name="Units">Work units this silo has scored this round.</param>
/// <param name="UnitsOfRound">Work units in the round.</param>
/// <param name="InFlight">Units it is scoring now.</param>
/// <param name="Lost">Units it lost by leaving the cluster.</param>
/// <param name="SamplesPerSecond">Its scoring rate this round.</param>
/// <param name="Scoring">True while the round is being scored; false for the experiment's last scored round.</param>
public sealed record ClusterScoring(string Experiment, int Round, int Units, int UnitsOfRound, int InFlight, int Lost, double SamplesPerSecond, bool Scoring);

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
            var scoring = ScoringBySilo(await c.GetGrain<ICatalogGrain>(0).ListExperiments());
            var silos = hosts.OrderBy(h => h.SiloAddress.Endpoint.Port).ThenBy(h => h.SiloAddress.Generation).Select(h => new ClusterSilo(
                h.SiloAddress.ToParsableString(), h.SiloName, h.Status.ToString(), h.ProxyPort, h.StartTime,
                stats.Where(s => s.SiloAddress.Equals(h.SiloAddress) && s.GrainType.StartsWith("PruneFuse.", StringComparison.Ordinal))
                    .GroupBy(s => GrainName(s.GrainType)).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count()),
                scoring[h.SiloAddress.ToParsableString()].OrderBy(x => x.Experiment, StringComparer.Ordinal).ToArray())).ToArray();
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(new { silos }, Reports.Camel));
                return 0;
            }
            var t = new Table().AddColumns("silo", "name", "status", "gateway", "started (UTC)", "PruneFuse grains", "scoring (running experiments)");
            foreach (var s in silos)
            {
                t.AddRow(Markup.Escape(s.Address), Markup.Escape(s.Name), s.Status, s.GatewayPort > 0 ? s.GatewayPort.ToString() : "-", s.StartedAt.ToString("yyyy-MM-dd HH:mm:ss"),
                    Markup.Escape(string.Join(", ", s.Grains.Select(g => $"{g.Key} {g.Value}"))),
                    Markup.Escape(string.Join("; ", s.Scoring.Select(x => $"{x.Experiment} round {x.Round}{(x.Scoring ? "" : " (done)")}: {x.Units}/{x.UnitsOfRound} units{(x.InFlight > 0 ? $" ({x.InFlight} in flight)" : "")}{(x.Lost > 0 ? $", {x.Lost} lost" : "")} at {x.SamplesPerSecond:N0} samples/s"))));
            }
            AnsiConsole.Write(t);
            return 0;
        }, ct));
        var cmd = new Command("cluster", "Inspect the cluster, and make certificates for one");
        cmd.Subcommands.Add(status);
        cmd.Subcommands.Add(Certificates());
        return cmd;
    }

    private static Command Certificates()
    {
        var output = new Option<string>("--out") { Description = "Folder to write the certificates into (created; "
            + "existing files are never overwritten)", Required = true };
        var hosts = new Option<string[]>("--host") { Description = "A DNS name or IP address the silos are reached "
            + "at, besides localhost and loopback (repeatable)" };
        var days = new Option<int>("--days") { Description = "Validity in days (1-3650)", DefaultValueFactory = _
            => 365 };
        var create = new Command("create",
            "Write a CA, a silo certificate, and admin and viewer client certificates (PEM) for a test "
            + "cluster") { output, hosts, days };
        create.SetAction(p =>
        {
            var json = p.GetValue(Common.Json);
            IReadOnlyList<string> files;
            try
            {
                files = CertificateIssuer.CreateClusterSet(p.GetValue(output)!, p.GetValue(hosts) ?? [],
                    p.GetValue(days));
            }
            catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException
                or System.Security.Cryptography.CryptographicException)
            {
                if (json) Console.WriteLine(JsonSerializer.Serialize(new { error = e.Message }, Reports.JsonOut));
                else Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
            var dir = Path.GetFullPath(p.GetValue(output)!);
            Common.Print(json, new { directory = dir, files }, string.Join("\n", [
                .. files.Select(f => $"wrote {f}"),
                "silos:   PruneFuse__Security__Certificate=" + Path.Combine(dir, "silo.crt")
                    + " PruneFuse__Security__Key=" + Path.Combine(dir, "silo.key")
                    + " PruneFuse__Security__TrustedCa=" + Path.Combine(dir, "ca.crt"),
                "clients: --cert " + Path.Combine(dir, "admin.crt") + " --key " + Path.Combine(dir, "admin.key")
                    + " --ca " + Path.Combine(dir, "ca.crt")
                    + " (viewer.crt/viewer.key: read only)",
                "keep ca.key offline: whoever has it can issue members of this cluster"]));
            return 0;
        });
        var certs = new Command("certs", "Certificates for a cluster with mutual TLS");
        certs.Subcommands.Add(create);
        return certs;
    }

    /// <summary>
    /// Each silo's share of every running experiment's current round of scoring (or, between scorings, of its last
    /// scored round), from the experiments' statuses, keyed by silo address.
    /// </summary>
    public static ILookup<string, ClusterScoring> ScoringBySilo(IEnumerable<ExperimentStatus> experiments) => experiments
        .Where(e => e.State == ExperimentState.Running)
        .SelectMany(e => e.Scoring is { } now
            ? now.Silos.Select(x => (x.Silo, Figures: new ClusterScoring(e.ExperimentId, now.Round, x.Units, now.Units, x.InFlight, x.Lost, Math.Round(x.SamplesPerSecond, 1), true)))
            : e.Rounds.LastOrDefault() is { } last
                ? last.ScoringSilos.Select(x => (x.Silo, Figures: new ClusterScoring(e.ExperimentId, last.Round, x.Units, last.ScoringUnits, 0, x.Lost, Math.Round(x.SamplesPerSecond, 1), false)))
                : [])
        .ToLookup(x => x.Silo, x => x.Figures);

    // "PruneFuse.Grains.ScoringWorkerGrain" (possibly with an assembly suffix) -> "scoringworker".
    private static string GrainName(string type)
    {
        var name = type.Split(',')[0].Split('.')[^1];
        return (name.EndsWith("Grain", StringComparison.Ordinal) ? name[..^5] : name).ToLowerInvariant();
    }
}
