// user_config.json as the tests write it: the seed's Linux scenario (a CentOS
// 7.2 source with two data disks) that the tests of the settings start from,
// and the settings of a Debian source's migration. Pure data, so the
// protocol's tests (which may not import Node.js) use it too.

/** A fresh copy of the seed's Linux settings, for a test to change as it likes. */
export function seedLinuxUserConfig() {
  return {
    access_id: "",
    secret_key: "",
    region_id: "region",
    image_name: "CLIENT_IMAGE_CENTOS72_01",
    system_disk_size: 50,
    platform: "CentOS",
    architecture: "x86_64",
    data_disks: [
      { data_disk_index: 1, data_disk_size: 100, src_path: "/mnt/disk1" },
      { data_disk_index: 2, data_disk_size: 150, src_path: "/mnt/disk2" },
    ],
    bandwidth_limit: 0,
  };
}

/** The settings of a migration of a Debian source to the image `imageName` in the local region (20 GiB system disk, no AccessKey), with `extra` in place of any of them. */
export function debianUserConfig(imageName: string, extra: Record<string, unknown> = {}) {
  return { access_id: "", secret_key: "", region_id: "local", image_name: imageName, system_disk_size: 20, platform: "Debian", architecture: "x86_64", bandwidth_limit: 0, data_disks: [], ...extra };
}
