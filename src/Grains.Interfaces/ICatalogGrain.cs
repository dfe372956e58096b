namespace PruneFuse.Grains.Interfaces;

/// <summary>Lists what the store holds (key: any; stateless).</summary>
[Alias("prunefuse.ICatalogGrain")]
public interface ICatalogGrain : IGrainWithIntegerKey
{
    /// <summary>Every imported dataset.</summary>
    Task<DatasetInfo[]> ListDatasets();

    /// <summary>Every experiment with its current status.</summary>
    Task<ExperimentStatus[]> ListExperiments();

    /// <summary>
    /// The dashboard URL of the silo that answers; a client's call is answered by its gateway silo (the catalog is a
    /// stateless worker, activated where it is called). Null when that silo serves no HTTP.
    /// </summary>
    Task<string?> GetDashboardUrl();
}
