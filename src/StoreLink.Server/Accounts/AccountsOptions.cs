namespace StoreLink.Server.Accounts;

/// <summary><c>Auth:*</c> — token lifetimes and login throttling.</summary>
public sealed class AuthOptions
{
    public TimeSpan StaffTokenLifetime { get; set; } = TimeSpan.FromHours(12);
    public TimeSpan CustomerTokenLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Failed logins of one account allowed within <see cref="LoginWindow"/> before it is refused with 429.</summary>
    public int MaxFailuresPerAccount { get; set; } = 5;

    /// <summary>Failed logins from one client address allowed within <see cref="LoginWindow"/>.</summary>
    public int MaxFailuresPerAddress { get; set; } = 20;

    public TimeSpan LoginWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Tolerance for the <c>exp</c> and <c>nbf</c> of customer identity tokens.</summary>
    public TimeSpan IdentityTokenClockSkew { get; set; } = TimeSpan.FromSeconds(60);

    internal bool IsValid() =>
        StaffTokenLifetime > TimeSpan.Zero && CustomerTokenLifetime > TimeSpan.Zero &&
        MaxFailuresPerAccount > 0 && MaxFailuresPerAddress > 0 && LoginWindow > TimeSpan.Zero;
}
