namespace StoreLink.Server.Accounts;

/// <summary><c>Auth:*</c> — token lifetimes and login throttling.</summary>
public sealed class AuthOptions
{
    public TimeSpan StaffTokenLifetime { get; set; } = TimeSpan.FromHours(12);
    public TimeSpan CustomerTokenLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// Failed logins of one account from one client address allowed within <see cref="LoginWindow"/>; then that
    /// address is refused for that account with 429 (others still sign in).
    /// </summary>
    public int MaxFailuresPerAccount { get; set; } = 5;

    /// <summary>
    /// Failed logins of one account from all addresses together within <see cref="LoginWindow"/>; then the account is
    /// refused from everywhere. Strangers need this many over the per-address limit worth of addresses to lock it.
    /// </summary>
    public int MaxFailuresPerAccountAllAddresses { get; set; } = 50;

    /// <summary>Failed logins from one client address allowed within <see cref="LoginWindow"/>.</summary>
    public int MaxFailuresPerAddress { get; set; } = 20;

    public TimeSpan LoginWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Tolerance for the <c>exp</c> and <c>nbf</c> of customer identity tokens.</summary>
    public TimeSpan IdentityTokenClockSkew { get; set; } = TimeSpan.FromSeconds(60);

    internal bool IsValid() =>
        StaffTokenLifetime > TimeSpan.Zero && CustomerTokenLifetime > TimeSpan.Zero &&
        MaxFailuresPerAccount > 0 && MaxFailuresPerAccountAllAddresses > 0 && MaxFailuresPerAddress > 0 && LoginWindow > TimeSpan.Zero;
}
