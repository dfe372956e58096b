namespace PruneFuse.Cluster.Tests;

/// <summary>
/// The short fault campaign (bench -- chaos runs the long one): a real 3-silo cluster on Azurite, two experiments
/// at once, one SIGKILL while a selector trains, one while shards score, one of the coordinator's silo, one while
/// the fused network trains, and a stop and restart of every silo.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Experiments_survive_killed_and_restarted_silos_with_identical_selections()
    {
        var log = new StringWriter();
        await using var campaign = new ChaosCampaign(new ChaosOptions { Runs = 1, Log = log });
        ChaosResult result;
        try
        {
            result = await campaign.RunAsync(TestContext.Current.CancellationToken);
        }
        finally
        {
            output.WriteLine(log.ToString());
        }
        var report = $"{string.Join("\n", result.Faults)}\n{string.Join("\n", result.Problems)}";

        Assert.True(result.FaultsInjected == 5, $"faults that did not land in their stage:\n{report}");
        Assert.True(result.Completed == 2, report + campaign.SiloLogs);
        Assert.True(result.LostRounds == 0, report);
        Assert.True(result.IdenticalSelections == 2, report);
        // The kills hit calls in flight: the coordinators saw them and retried.
        Assert.Contains("transient failure", campaign.SiloLogs);
        // SIGTERM is a clean shutdown, even with torch work in flight.
        Assert.True(campaign.UncleanStops == 0, campaign.SiloLogs);
        Assert.DoesNotContain(AzuriteProcess.AccountKey, campaign.SiloLogs);
        Assert.DoesNotContain(ChaosCampaign.HttpPassword, campaign.SiloLogs);
    }
}
