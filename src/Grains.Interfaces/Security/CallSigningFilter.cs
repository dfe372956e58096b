namespace PruneFuse.Grains.Interfaces.Security;

/// <summary>Signs every outgoing grain call with this member's certificate (see <see cref="CallIdentity"/>).</summary>
public sealed class CallSigningFilter(ClusterCredentials credentials) : IOutgoingGrainCallFilter
{
    /// <inheritdoc />
    public Task Invoke(IOutgoingGrainCallContext context)
    {
        CallIdentity.Attach(credentials, context.TargetId.ToString(), MethodOf(context));
        return context.Invoke();
    }

    /// <summary>The method a call names, as both ends spell it.</summary>
    public static string MethodOf(IGrainCallContext context) => $"{context.InterfaceName}.{context.MethodName}";
}
