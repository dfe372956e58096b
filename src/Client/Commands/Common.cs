using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Client.Commands;

/// <summary>What every command shares: the connection options, id options, the run wrapper with its error handling, and output.</summary>
public static class Common
{
    public static readonly Option<int> GatewayPort = new("--gateway-port")
    {
        Description = "Gateway port of a silo (env PRUNEFUSE_GATEWAY_PORT)",
        DefaultValueFactory = _ => int.TryParse(Environment.GetEnvironmentVariable("PRUNEFUSE_GATEWAY_PORT"), out var p) ? p : 30000,
        Recursive = true,
    };

    public static readonly Option<string> GatewayHost = new("--gateway-host")
    {
        Description = "Host of a silo's gateway (env PRUNEFUSE_GATEWAY_HOST)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("PRUNEFUSE_GATEWAY_HOST") is { Length: > 0 } h ? h : "127.0.0.1",
        Recursive = true,
    };
    public static readonly Option<string> Certificate = new("--cert")
    {
        Description = "This client's certificate for a cluster with TLS: PEM (key inside or in --key) or PFX "
            + "(password in env PRUNEFUSE_CERT_PASSWORD) (env PRUNEFUSE_CERT)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("PRUNEFUSE_CERT") ?? "",
        Recursive = true,
    };

    public static readonly Option<string> Key = new("--key")
    {
        Description = "PEM private key of --cert, when not in the same file (env PRUNEFUSE_KEY)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("PRUNEFUSE_KEY") ?? "",
        Recursive = true,
    };

    public static readonly Option<string> TrustedCa = new("--ca")
    {
        Description = "The cluster's CA certificate (PEM): the only issuer whose silos are trusted (env PRUNEFUSE_CA)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("PRUNEFUSE_CA") ?? "",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json") { Description = "Machine-readable output: the last line is one JSON object", Recursive = true };

    internal static Option<string> Id(string description, string? fallback = null)
    {
        // The id may also come first, as a bare argument (PositionalIds rewrites it to --id).
        description += " (or give it first, without --id)";
        var option = fallback is null ? new Option<string>("--id") { Description = description, Required = true } : new Option<string>("--id") { Description = description, DefaultValueFactory = _ => fallback };
        return WithIdRule(option, description.StartsWith("Dataset", StringComparison.Ordinal) ? "dataset id" : "experiment id");
    }

    /// <summary>Checks an id option before anything is sent, so the error names the id instead of an Orleans key.</summary>
    internal static Option<string> WithIdRule(Option<string> option, string what)
    {
        option.Validators.Add(r =>
        {
            if (Ids.Problem(r.GetValueOrDefault<string>(), what) is { } problem) r.AddError(problem);
        });
        return option;
    }

    /// <summary>Exit code of a command interrupted by Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>
    /// Runs an action against a connected cluster with uniform error handling. The wait is bounded on every side:
    /// Ctrl+C ends it at once (exit 130), and a gateway that stops answering ends it within seconds (exit 1), even
    /// while a long grain call is still pending. Server-side work (an import) goes on without the console.
    /// </summary>
    internal static async Task<int> Run(ParseResult p, Func<IClusterClient, bool, Task<int>> action, CancellationToken ct)
    {
        var json = p.GetValue(Json);
        var (gatewayHost, gatewayPort) = (p.GetValue(GatewayHost)!, p.GetValue(GatewayPort));
        var (certificate, key, ca) = (p.GetValue(Certificate) ?? "", p.GetValue(Key) ?? "", p.GetValue(TrustedCa)
            ?? "");
        IHost? host = null;
        var stopHost = true;
        try
        {
            var credentials = ClusterConnection.Credentials(certificate, key,
                Environment.GetEnvironmentVariable("PRUNEFUSE_CERT_PASSWORD") ?? "", ca);
            host = await ClusterConnection.ConnectAsync(gatewayHost, gatewayPort, credentials, ct);
            using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var work = action(host.Client(), json);
            var lost = ClusterConnection.WatchGatewayAsync(gatewayHost, gatewayPort, GatewayProbeInterval, 2, watching.Token);
            var interrupted = Task.Delay(Timeout.Infinite, ct);
            var first = await Task.WhenAny(work, lost, interrupted);
            watching.Cancel();
            if (first == work) return await work;
            // A call stuck on a vanished silo never returns: leave it and the client behind.
            stopHost = false;
            if (first == interrupted) return Interrupted();
            throw new ClientException($"lost the connection to the silo at {gatewayHost}:{gatewayPort} (it stopped or was killed); work it had accepted, such as an import, goes on when it runs again");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            stopHost = false;
            return Interrupted();
        }
        catch (Exception e)
        {
            // Every failure is one line (the first line of the message) and exit code 1; never a stack trace.
            var message = e.Message.Split('\n')[0];
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { error = message }, Reports.JsonOut));
            else Console.Error.WriteLine($"error: {message}");
            return 1;
        }
        finally
        {
            if (host is not null && stopHost)
            {
                using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try { await host.StopAsync(stopping.Token); } catch (Exception) { /* leaving anyway */ }
                host.Dispose();
            }
        }

        int Interrupted()
        {
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { error = "interrupted" }, Reports.JsonOut));
            else Console.Error.WriteLine("interrupted");
            return InterruptedExitCode;
        }
    }

    /// <summary>How often a running command checks that its gateway still accepts connections (two misses = lost).</summary>
    internal static readonly TimeSpan GatewayProbeInterval = TimeSpan.FromSeconds(2);

    /// <summary>Prints <paramref name="value"/> as one camelCase JSON line with <c>--json</c>, else <paramref name="text"/>.</summary>
    internal static void Print<T>(bool json, T value, string text)
    {
        if (json) Console.WriteLine(JsonSerializer.Serialize(value, Reports.Camel));
        else Console.WriteLine(text);
    }

    /// <summary>
    /// An option for a named spec choice: help lists <see cref="ContractNames"/>' names and the default by name (not the
    /// .NET member name); a value outside the list is a parse error naming the option and the known names.
    /// </summary>
    internal static Option<T> Named<T>(string name, string description, T fallback) where T : struct, Enum => new(name)
    {
        // No DefaultValueFactory: help would print the .NET member name ("LeastConfidence"); the parser supplies it.
        Description = $"{description} [default: {fallback.Name()}]",
        HelpName = string.Join("|", ContractNames.Names<T>()),
        CustomParser = r =>
        {
            if (r.Tokens.Count == 0) return fallback;
            var text = r.Tokens[^1].Value;
            if (ContractNames.TryParse<T>(text) is { } value) return value;
            r.AddError($"{name} must be one of {ContractNames.List<T>()}, got '{text}'");
            return fallback;
        },
    };

    // Datasets without names label their classes "0".."C-1", which is also what a labeling tool then shows.
    internal static string[] ClassNames(DatasetInfo d) =>
        d.ClassNames.Length == d.Classes ? d.ClassNames : [.. Enumerable.Range(0, d.Classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];
}
