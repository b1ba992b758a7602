/* Table E.1-1 of PS3.15 (edition 2024b, DEID_EDITION): the action of the Basic Application
 * Level Confidentiality Profile for each attribute, and which option changes it; and the part
 * of the PS3.6 data dictionary that reading implicit VR needs (which tags are sequences and
 * which UIDs). The basic-profile column was checked against KitwareMedical/dicom-anonymizer's
 * 2024b extraction of the table, and all 620 rows, basic profile and option columns, against
 * innolitics/dicom-standard's (its "rev2024b" confidentiality_profile_attributes.json). The
 * option flags: DEID_OPT_PATIENT and DEID_OPT_DEVICE where Rtn. Pat. Chars. / Rtn. Dev. Id.
 * say K (a C there is free text or an AE title trolley cannot clean: it stays as the basic
 * profile leaves it); DEID_OPT_DESC where Clean Desc. says C (text VRs are cleaned; a
 * sequence stays as the basic profile leaves it); DEID_OPT_DATES where Rtn. Long. Modif.
 * Dates says C on a DA, DT or TM (Certified Timestamp, Frame Origin Timestamp and Timezone
 * Offset From UTC, which are not, stay as the basic profile leaves them). Rows generated once
 * by a script from those sources and pydicom's dictionary, then kept here as data. */
#include "deid/internal.h"

#include <stddef.h>

static const struct deid_rule rules[] = {
	{0x00001000u, 0xFFFFFFFFu, "UI", DEID_ACT_X, 0}, /* AffectedSOPInstanceUID */
	{0x00001001u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* RequestedSOPInstanceUID */
	{0x00020003u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* MediaStorageSOPInstanceUID */
	{0x00041511u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* ReferencedSOPInstanceUIDInFile */
	{0x00080012u, 0xFFFFFFFFu, "DA", DEID_ACT_XD, DEID_OPT_DATES},	/* InstanceCreationDate */
	{0x00080013u, 0xFFFFFFFFu, "TM", DEID_ACT_XZD, DEID_OPT_DATES}, /* InstanceCreationTime */
	{0x00080014u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},		/* InstanceCreatorUID */
	{0x00080015u, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* InstanceCoercionDateTime */
	{0x00080017u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* AcquisitionUID */
	{0x00080018u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* SOPInstanceUID */
	{0x00080019u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* PyramidUID */
	{0x00080020u, 0xFFFFFFFFu, "DA", DEID_ACT_Z, DEID_OPT_DATES}, /* StudyDate */
	{0x00080021u, 0xFFFFFFFFu, "DA", DEID_ACT_XD, DEID_OPT_DATES},	/* SeriesDate */
	{0x00080022u, 0xFFFFFFFFu, "DA", DEID_ACT_XZ, DEID_OPT_DATES},	/* AcquisitionDate */
	{0x00080023u, 0xFFFFFFFFu, "DA", DEID_ACT_ZD, DEID_OPT_DATES},	/* ContentDate */
	{0x00080024u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES},	/* OverlayDate */
	{0x00080025u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES},	/* CurveDate */
	{0x0008002Au, 0xFFFFFFFFu, "DT", DEID_ACT_XZD, DEID_OPT_DATES}, /* AcquisitionDateTime */
	{0x00080030u, 0xFFFFFFFFu, "TM", DEID_ACT_Z, DEID_OPT_DATES},	/* StudyTime */
	{0x00080031u, 0xFFFFFFFFu, "TM", DEID_ACT_XD, DEID_OPT_DATES},	/* SeriesTime */
	{0x00080032u, 0xFFFFFFFFu, "TM", DEID_ACT_XZ, DEID_OPT_DATES},	/* AcquisitionTime */
	{0x00080033u, 0xFFFFFFFFu, "TM", DEID_ACT_ZD, DEID_OPT_DATES},	/* ContentTime */
	{0x00080034u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES},	/* OverlayTime */
	{0x00080035u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES},	/* CurveTime */
	{0x00080050u, 0xFFFFFFFFu, "SH", DEID_ACT_Z, 0},		/* AccessionNumber */
	{0x00080054u, 0xFFFFFFFFu, "AE", DEID_ACT_X, 0},		/* RetrieveAETitle */
	{0x00080055u, 0xFFFFFFFFu, "AE", DEID_ACT_X, 0},		/* StationAETitle */
	{0x00080058u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},   /* FailedSOPInstanceUIDList */
	{0x00080080u, 0xFFFFFFFFu, "LO", DEID_ACT_XZD, 0}, /* InstitutionName */
	{0x00080081u, 0xFFFFFFFFu, "ST", DEID_ACT_X, 0},   /* InstitutionAddress */
	{0x00080082u, 0xFFFFFFFFu, "SQ", DEID_ACT_XZD, 0}, /* InstitutionCodeSequence */
	{0x00080090u, 0xFFFFFFFFu, "PN", DEID_ACT_Z, 0},   /* ReferringPhysicianName */
	{0x00080092u, 0xFFFFFFFFu, "ST", DEID_ACT_X, 0},   /* ReferringPhysicianAddress */
	{0x00080094u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0},   /* ReferringPhysicianTelephoneNumbers */
	{0x00080096u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* ReferringPhysicianIdentificationSequence */
	{0x0008009Cu, 0xFFFFFFFFu, "PN", DEID_ACT_Z, 0}, /* ConsultingPhysicianName */
	{0x0008009Du, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* ConsultingPhysicianIdentificationSequence */
	{0x00080106u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* ContextGroupVersion */
	{0x00080107u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* ContextGroupLocalVersion */
	{0x00080201u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0},	      /* TimezoneOffsetFromUTC */
	{0x00081000u, 0xFFFFFFFFu, "AE", DEID_ACT_X, 0},	      /* NetworkID */
	{0x00081010u, 0xFFFFFFFFu, "SH", DEID_ACT_XZD, DEID_OPT_DEVICE}, /* StationName */
	{0x00081030u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC},	 /* StudyDescription */
	{0x0008103Eu, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC},	 /* SeriesDescription */
	{0x00081040u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* InstitutionalDepartmentName */
	{0x00081041u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* InstitutionalDepartmentTypeCodeSequence */
	{0x00081048u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* PhysiciansOfRecord */
	{0x00081049u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* PhysiciansOfRecordIdentificationSequence */
	{0x00081050u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* PerformingPhysicianName */
	{0x00081052u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* PerformingPhysicianIdentificationSequence */
	{0x00081060u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* NameOfPhysiciansReadingStudy */
	{0x00081062u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* PhysiciansReadingStudyIdentificationSequence */
	{0x00081070u, 0xFFFFFFFFu, "PN", DEID_ACT_XZD, 0}, /* OperatorsName */
	{0x00081072u, 0xFFFFFFFFu, "SQ", DEID_ACT_XD, 0},  /* OperatorIdentificationSequence */
	{0x00081080u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC}, /* AdmittingDiagnosesDescription */
	{0x00081084u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 DEID_OPT_DESC}, /* AdmittingDiagnosesCodeSequence */
	{0x00081088u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* PyramidDescription */
	{0x00081110u, 0xFFFFFFFFu, "SQ", DEID_ACT_XZ, 0},	     /* ReferencedStudySequence */
	{0x00081111u, 0xFFFFFFFFu, "SQ", DEID_ACT_XZD,
	 0}, /* ReferencedPerformedProcedureStepSequence */
	{0x00081120u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0},	     /* ReferencedPatientSequence */
	{0x00081140u, 0xFFFFFFFFu, "SQ", DEID_ACT_XZU, 0},	     /* ReferencedImageSequence */
	{0x00081155u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* ReferencedSOPInstanceUID */
	{0x00081195u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* TransactionUID */
	{0x00082111u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC}, /* DerivationDescription */
	{0x00082112u, 0xFFFFFFFFu, "SQ", DEID_ACT_XZU, 0},	     /* SourceImageSequence */
	{0x00083010u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* IrradiationEventUID */
	{0x00084000u, 0xFFFFFFFFu, "LT", DEID_ACT_X, DEID_OPT_DESC}, /* IdentifyingComments */
	{0x00100010u, 0xFFFFFFFFu, "PN", DEID_ACT_Z, 0},	     /* PatientName */
	{0x00100020u, 0xFFFFFFFFu, "LO", DEID_ACT_ZD, 0},	     /* PatientID */
	{0x00100021u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},	     /* IssuerOfPatientID */
	{0x00100030u, 0xFFFFFFFFu, "DA", DEID_ACT_Z, 0},	     /* PatientBirthDate */
	{0x00100032u, 0xFFFFFFFFu, "TM", DEID_ACT_X, 0},	     /* PatientBirthTime */
	{0x00100040u, 0xFFFFFFFFu, "CS", DEID_ACT_Z, DEID_OPT_PATIENT}, /* PatientSex */
	{0x00100050u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* PatientInsurancePlanCodeSequence */
	{0x00100101u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* PatientPrimaryLanguageCodeSequence */
	{0x00100102u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* PatientPrimaryLanguageModifierCodeSequence */
	{0x00101000u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* OtherPatientIDs */
	{0x00101001u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* OtherPatientNames */
	{0x00101002u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* OtherPatientIDsSequence */
	{0x00101005u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* PatientBirthName */
	{0x00101010u, 0xFFFFFFFFu, "AS", DEID_ACT_X, DEID_OPT_PATIENT}, /* PatientAge */
	{0x00101020u, 0xFFFFFFFFu, "DS", DEID_ACT_X, DEID_OPT_PATIENT}, /* PatientSize */
	{0x00101030u, 0xFFFFFFFFu, "DS", DEID_ACT_X, DEID_OPT_PATIENT}, /* PatientWeight */
	{0x00101040u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},		/* PatientAddress */
	{0x00101050u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* InsurancePlanIdentification */
	{0x00101060u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* PatientMotherBirthName */
	{0x00101080u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* MilitaryRank */
	{0x00101081u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* BranchOfService */
	{0x00101090u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* MedicalRecordLocator */
	{0x00101100u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* ReferencedPatientPhotoSequence */
	{0x00102000u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* MedicalAlerts */
	{0x00102110u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* Allergies */
	{0x00102150u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},	     /* CountryOfResidence */
	{0x00102152u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},	     /* RegionOfResidence */
	{0x00102154u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0},	     /* PatientTelephoneNumbers */
	{0x00102155u, 0xFFFFFFFFu, "LT", DEID_ACT_X, 0},	     /* PatientTelecomInformation */
	{0x00102160u, 0xFFFFFFFFu, "SH", DEID_ACT_X, DEID_OPT_PATIENT}, /* EthnicGroup */
	{0x00102180u, 0xFFFFFFFFu, "SH", DEID_ACT_X, DEID_OPT_DESC},	/* Occupation */
	{0x001021A0u, 0xFFFFFFFFu, "CS", DEID_ACT_X, DEID_OPT_PATIENT}, /* SmokingStatus */
	{0x001021B0u, 0xFFFFFFFFu, "LT", DEID_ACT_X, DEID_OPT_DESC}, /* AdditionalPatientHistory */
	{0x001021C0u, 0xFFFFFFFFu, "US", DEID_ACT_X, DEID_OPT_PATIENT}, /* PregnancyStatus */
	{0x001021D0u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES},	/* LastMenstrualDate */
	{0x001021F0u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* PatientReligiousPreference */
	{0x00102203u, 0xFFFFFFFFu, "CS", DEID_ACT_XZ, DEID_OPT_PATIENT}, /* PatientSexNeutered */
	{0x00102297u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0},		 /* ResponsiblePerson */
	{0x00102299u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},	     /* ResponsibleOrganization */
	{0x00104000u, 0xFFFFFFFFu, "LT", DEID_ACT_X, DEID_OPT_DESC}, /* PatientComments */
	{0x00120010u, 0xFFFFFFFFu, "LO", DEID_ACT_D, 0},	     /* ClinicalTrialSponsorName */
	{0x00120020u, 0xFFFFFFFFu, "LO", DEID_ACT_D, 0},	     /* ClinicalTrialProtocolID */
	{0x00120021u, 0xFFFFFFFFu, "LO", DEID_ACT_Z, 0},	     /* ClinicalTrialProtocolName */
	{0x00120022u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* IssuerOfClinicalTrialProtocolID */
	{0x00120023u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* OtherClinicalTrialProtocolIDsSequence */
	{0x00120030u, 0xFFFFFFFFu, "LO", DEID_ACT_Z, 0}, /* ClinicalTrialSiteID */
	{0x00120031u, 0xFFFFFFFFu, "LO", DEID_ACT_Z, 0}, /* ClinicalTrialSiteName */
	{0x00120032u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* IssuerOfClinicalTrialSiteID */
	{0x00120040u, 0xFFFFFFFFu, "LO", DEID_ACT_D, 0}, /* ClinicalTrialSubjectID */
	{0x00120041u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* IssuerOfClinicalTrialSubjectID */
	{0x00120042u, 0xFFFFFFFFu, "LO", DEID_ACT_D, 0}, /* ClinicalTrialSubjectReadingID */
	{0x00120043u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* IssuerOfClinicalTrialSubjectReadingID */
	{0x00120050u, 0xFFFFFFFFu, "LO", DEID_ACT_Z, 0}, /* ClinicalTrialTimePointID */
	{0x00120051u, 0xFFFFFFFFu, "ST", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* ClinicalTrialTimePointDescription */
	{0x00120055u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* IssuerOfClinicalTrialTimePointID */
	{0x00120060u, 0xFFFFFFFFu, "LO", DEID_ACT_Z, 0}, /* ClinicalTrialCoordinatingCenterName */
	{0x00120071u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* ClinicalTrialSeriesID */
	{0x00120072u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* ClinicalTrialSeriesDescription */
	{0x00120073u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* IssuerOfClinicalTrialSeriesID */
	{0x00120081u, 0xFFFFFFFFu, "LO", DEID_ACT_D,
	 0}, /* ClinicalTrialProtocolEthicsCommitteeName */
	{0x00120082u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 0}, /* ClinicalTrialProtocolEthicsCommitteeApprovalNumber */
	{0x00120086u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* EthicsCommitteeApprovalEffectivenessStartDate */
	{0x00120087u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* EthicsCommitteeApprovalEffectivenessEndDate */
	{0x0014407Cu, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* CalibrationTime */
	{0x0014407Eu, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DEVICE | DEID_OPT_DATES},		 /* CalibrationDate */
	{0x0016002Bu, 0xFFFFFFFFu, "OB", DEID_ACT_X, 0}, /* MakerNote */
	{0x0016004Bu, 0xFFFFFFFFu, "OB", DEID_ACT_X, 0}, /* DeviceSettingDescription */
	{0x0016004Du, 0xFFFFFFFFu, "UT", DEID_ACT_X, 0}, /* CameraOwnerName */
	{0x0016004Eu, 0xFFFFFFFFu, "DS", DEID_ACT_X, DEID_OPT_DEVICE}, /* LensSpecification */
	{0x0016004Fu, 0xFFFFFFFFu, "UT", DEID_ACT_X, DEID_OPT_DEVICE}, /* LensMake */
	{0x00160050u, 0xFFFFFFFFu, "UT", DEID_ACT_X, DEID_OPT_DEVICE}, /* LensModel */
	{0x00160051u, 0xFFFFFFFFu, "UT", DEID_ACT_X, DEID_OPT_DEVICE}, /* LensSerialNumber */
	{0x00160070u, 0xFFFFFFFFu, "OB", DEID_ACT_X, 0},	       /* GPSVersionID */
	{0x00160071u, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSLatitudeRef */
	{0x00160072u, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSLatitude */
	{0x00160073u, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSLongitudeRef */
	{0x00160074u, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSLongitude */
	{0x00160075u, 0xFFFFFFFFu, "US", DEID_ACT_X, 0},	       /* GPSAltitudeRef */
	{0x00160076u, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSAltitude */
	{0x00160077u, 0xFFFFFFFFu, "DT", DEID_ACT_X, 0},	       /* GPSTimeStamp */
	{0x00160078u, 0xFFFFFFFFu, "UT", DEID_ACT_X, 0},	       /* GPSSatellites */
	{0x00160079u, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSStatus */
	{0x0016007Au, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSMeasureMode */
	{0x0016007Bu, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSDOP */
	{0x0016007Cu, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSSpeedRef */
	{0x0016007Du, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSSpeed */
	{0x0016007Eu, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSTrackRef */
	{0x0016007Fu, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSTrack */
	{0x00160080u, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSImgDirectionRef */
	{0x00160081u, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSImgDirection */
	{0x00160082u, 0xFFFFFFFFu, "UT", DEID_ACT_X, 0},	       /* GPSMapDatum */
	{0x00160083u, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSDestLatitudeRef */
	{0x00160084u, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSDestLatitude */
	{0x00160085u, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSDestLongitudeRef */
	{0x00160086u, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSDestLongitude */
	{0x00160087u, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSDestBearingRef */
	{0x00160088u, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSDestBearing */
	{0x00160089u, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0},	       /* GPSDestDistanceRef */
	{0x0016008Au, 0xFFFFFFFFu, "DS", DEID_ACT_X, 0},	       /* GPSDestDistance */
	{0x0016008Bu, 0xFFFFFFFFu, "OB", DEID_ACT_X, 0},	       /* GPSProcessingMethod */
	{0x0016008Cu, 0xFFFFFFFFu, "OB", DEID_ACT_X, 0},	       /* GPSAreaInformation */
	{0x0016008Du, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES},  /* GPSDateStamp */
	{0x0016008Eu, 0xFFFFFFFFu, "IS", DEID_ACT_X, 0},	       /* GPSDifferential */
	{0x00180010u, 0xFFFFFFFFu, "LO", DEID_ACT_ZD, DEID_OPT_DESC},  /* ContrastBolusAgent */
	{0x00180027u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* InterventionDrugStopTime */
	{0x00180035u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES}, /* InterventionDrugStartTime */
	{0x00181000u, 0xFFFFFFFFu, "LO", DEID_ACT_XZD, DEID_OPT_DEVICE}, /* DeviceSerialNumber */
	{0x00181002u, 0xFFFFFFFFu, "UI", DEID_ACT_U, DEID_OPT_DEVICE},	 /* DeviceUID */
	{0x00181004u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DEVICE},	 /* PlateID */
	{0x00181005u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DEVICE},	 /* GeneratorID */
	{0x00181007u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DEVICE},	 /* CassetteID */
	{0x00181008u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DEVICE},	 /* GantryID */
	{0x00181009u, 0xFFFFFFFFu, "UT", DEID_ACT_X, DEID_OPT_DEVICE}, /* UniqueDeviceIdentifier */
	{0x0018100Au, 0xFFFFFFFFu, "SQ", DEID_ACT_X, DEID_OPT_DEVICE}, /* UDISequence */
	{0x0018100Bu, 0xFFFFFFFFu, "UI", DEID_ACT_U,
	 DEID_OPT_DEVICE}, /* ManufacturerDeviceClassUID */
	{0x00181012u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* DateOfSecondaryCapture */
	{0x00181014u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* TimeOfSecondaryCapture */
	{0x00181030u, 0xFFFFFFFFu, "LO", DEID_ACT_XD, DEID_OPT_DESC}, /* ProtocolName */
	{0x00181042u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* ContrastBolusStartTime */
	{0x00181043u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* ContrastBolusStopTime */
	{0x00181072u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES}, /* RadiopharmaceuticalStartTime */
	{0x00181073u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES}, /* RadiopharmaceuticalStopTime */
	{0x00181078u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* RadiopharmaceuticalStartDateTime */
	{0x00181079u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* RadiopharmaceuticalStopDateTime */
	{0x001811BBu, 0xFFFFFFFFu, "LO", DEID_ACT_D,
	 DEID_OPT_DESC}, /* AcquisitionFieldOfViewLabel */
	{0x00181200u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* DateOfLastCalibration */
	{0x00181201u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* TimeOfLastCalibration */
	{0x00181202u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* DateTimeOfLastCalibration */
	{0x00181203u, 0xFFFFFFFFu, "DT", DEID_ACT_Z,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* CalibrationDateTime */
	{0x00181204u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* DateOfManufacture */
	{0x00181205u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* DateOfInstallation */
	{0x00181400u, 0xFFFFFFFFu, "LO", DEID_ACT_XD,
	 DEID_OPT_DESC}, /* AcquisitionDeviceProcessingDescription */
	{0x00182042u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* TargetUID */
	{0x00184000u, 0xFFFFFFFFu, "LT", DEID_ACT_X, DEID_OPT_DESC}, /* AcquisitionComments */
	{0x00185011u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 DEID_OPT_DEVICE}, /* TransducerIdentificationSequence */
	{0x0018700Au, 0xFFFFFFFFu, "SH", DEID_ACT_XD, DEID_OPT_DEVICE}, /* DetectorID */
	{0x0018700Cu, 0xFFFFFFFFu, "DA", DEID_ACT_XD,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* DateOfLastDetectorCalibration */
	{0x0018700Eu, 0xFFFFFFFFu, "TM", DEID_ACT_XD,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* TimeOfLastDetectorCalibration */
	{0x00189074u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* FrameAcquisitionDateTime */
	{0x00189151u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* FrameReferenceDateTime */
	{0x00189185u, 0xFFFFFFFFu, "ST", DEID_ACT_X,
	 DEID_OPT_DESC}, /* RespiratoryMotionCompensationTechniqueDescription */
	{0x00189367u, 0xFFFFFFFFu, "UC", DEID_ACT_D, DEID_OPT_DEVICE}, /* XRaySourceID */
	{0x00189369u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES},  /* SourceStartDateTime */
	{0x0018936Au, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES},  /* SourceEndDateTime */
	{0x00189371u, 0xFFFFFFFFu, "UC", DEID_ACT_D, DEID_OPT_DEVICE}, /* XRayDetectorID */
	{0x00189373u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DEVICE}, /* XRayDetectorLabel */
	{0x0018937Bu, 0xFFFFFFFFu, "UT", DEID_ACT_X,
	 DEID_OPT_DESC}, /* MultienergyAcquisitionDescription */
	{0x0018937Fu, 0xFFFFFFFFu, "UT", DEID_ACT_X, DEID_OPT_DESC}, /* DecompositionDescription */
	{0x00189424u, 0xFFFFFFFFu, "LT", DEID_ACT_X,
	 DEID_OPT_DESC}, /* AcquisitionProtocolDescription */
	{0x00189516u, 0xFFFFFFFFu, "DT", DEID_ACT_XD,
	 DEID_OPT_DATES}, /* StartAcquisitionDateTime */
	{0x00189517u, 0xFFFFFFFFu, "DT", DEID_ACT_XD, DEID_OPT_DATES}, /* EndAcquisitionDateTime */
	{0x00189623u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES},  /* FunctionalSyncPulse */
	{0x00189701u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES},  /* DecayCorrectionDateTime */
	{0x00189804u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES},  /* ExclusionStartDateTime */
	{0x00189919u, 0xFFFFFFFFu, "DT", DEID_ACT_ZD,
	 DEID_OPT_DATES}, /* InstructionPerformedDateTime */
	{0x00189937u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC}, /* RequestedSeriesDescription */
	{0x0018A002u, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* ContributionDateTime */
	{0x0018A003u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC},  /* ContributionDescription */
	{0x0020000Du, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* StudyInstanceUID */
	{0x0020000Eu, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* SeriesInstanceUID */
	{0x00200010u, 0xFFFFFFFFu, "SH", DEID_ACT_Z, 0},	      /* StudyID */
	{0x00200027u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC},  /* PyramidLabel */
	{0x00200052u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* FrameOfReferenceUID */
	{0x00200200u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* SynchronizationFrameOfReferenceUID */
	{0x00203401u, 0xFFFFFFFFu, "CS", DEID_ACT_X, DEID_OPT_DEVICE}, /* ModifyingDeviceID */
	{0x00203403u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES},  /* ModifiedImageDate */
	{0x00203405u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES},  /* ModifiedImageTime */
	{0x00203406u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},	     /* ModifiedImageDescription */
	{0x00204000u, 0xFFFFFFFFu, "LT", DEID_ACT_X, DEID_OPT_DESC}, /* ImageComments */
	{0x00209158u, 0xFFFFFFFFu, "LT", DEID_ACT_X, DEID_OPT_DESC}, /* FrameComments */
	{0x00209161u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* ConcatenationUID */
	{0x00209164u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* DimensionOrganizationUID */
	{0x00281199u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* PaletteColorLookupTableUID */
	{0x00281214u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* LargePaletteColorLookupTableUID */
	{0x00284000u, 0xFFFFFFFFu, "LT", DEID_ACT_X, 0}, /* ImagePresentationComments */
	{0x00320012u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* StudyIDIssuer */
	{0x00320032u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES},  /* StudyVerifiedDate */
	{0x00320033u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES},  /* StudyVerifiedTime */
	{0x00320034u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES},  /* StudyReadDate */
	{0x00320035u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES},  /* StudyReadTime */
	{0x00321000u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES},  /* ScheduledStudyStartDate */
	{0x00321001u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES},  /* ScheduledStudyStartTime */
	{0x00321010u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES},  /* ScheduledStudyStopDate */
	{0x00321011u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES},  /* ScheduledStudyStopTime */
	{0x00321020u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DEVICE}, /* ScheduledStudyLocation */
	{0x00321021u, 0xFFFFFFFFu, "AE", DEID_ACT_X, 0}, /* ScheduledStudyLocationAETitle */
	{0x00321030u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC},  /* ReasonForStudy */
	{0x00321032u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0},	      /* RequestingPhysician */
	{0x00321033u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},	      /* RequestingService */
	{0x00321040u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* StudyArrivalDate */
	{0x00321041u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* StudyArrivalTime */
	{0x00321050u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* StudyCompletionDate */
	{0x00321051u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* StudyCompletionTime */
	{0x00321060u, 0xFFFFFFFFu, "LO", DEID_ACT_XZ,
	 DEID_OPT_DESC}, /* RequestedProcedureDescription */
	{0x00321066u, 0xFFFFFFFFu, "UT", DEID_ACT_X, DEID_OPT_DESC}, /* ReasonForVisit */
	{0x00321067u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 DEID_OPT_DESC}, /* ReasonForVisitCodeSequence */
	{0x00321070u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* RequestedContrastAgent */
	{0x00324000u, 0xFFFFFFFFu, "LT", DEID_ACT_X, DEID_OPT_DESC}, /* StudyComments */
	{0x00340001u, 0xFFFFFFFFu, "SQ", DEID_ACT_D, 0},	     /* FlowIdentifierSequence */
	{0x00340002u, 0xFFFFFFFFu, "OB", DEID_ACT_D, 0},	     /* FlowIdentifier */
	{0x00340005u, 0xFFFFFFFFu, "OB", DEID_ACT_D, 0},	     /* SourceIdentifier */
	{0x00340007u, 0xFFFFFFFFu, "OB", DEID_ACT_D, 0},	     /* FrameOriginTimestamp */
	{0x00380004u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* ReferencedPatientAliasSequence */
	{0x00380010u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* AdmissionID */
	{0x00380011u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* IssuerOfAdmissionID */
	{0x00380014u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* IssuerOfAdmissionIDSequence */
	{0x0038001Au, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* ScheduledAdmissionDate */
	{0x0038001Bu, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* ScheduledAdmissionTime */
	{0x0038001Cu, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* ScheduledDischargeDate */
	{0x0038001Du, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* ScheduledDischargeTime */
	{0x0038001Eu, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* ScheduledPatientInstitutionResidence */
	{0x00380020u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* AdmittingDate */
	{0x00380021u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* AdmittingTime */
	{0x00380030u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* DischargeDate */
	{0x00380032u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* DischargeTime */
	{0x00380040u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* DischargeDiagnosisDescription */
	{0x00380050u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* SpecialNeeds */
	{0x00380060u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* ServiceEpisodeID */
	{0x00380061u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* IssuerOfServiceEpisodeID */
	{0x00380062u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* ServiceEpisodeDescription */
	{0x00380064u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* IssuerOfServiceEpisodeIDSequence */
	{0x00380300u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* CurrentPatientLocation */
	{0x00380400u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* PatientInstitutionResidence */
	{0x00380500u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* PatientState */
	{0x00384000u, 0xFFFFFFFFu, "LT", DEID_ACT_X, DEID_OPT_DESC}, /* VisitComments */
	{0x003A0310u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* MultiplexGroupUID */
	{0x003A0314u, 0xFFFFFFFFu, "DT", DEID_ACT_D,
	 DEID_OPT_DATES}, /* ImpedanceMeasurementDateTime */
	{0x003A0329u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* WaveformFilterDescription */
	{0x003A032Bu, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* FilterLookupTableDescription */
	{0x00400001u, 0xFFFFFFFFu, "AE", DEID_ACT_X, 0}, /* ScheduledStationAETitle */
	{0x00400002u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* ScheduledProcedureStepStartDate */
	{0x00400003u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES}, /* ScheduledProcedureStepStartTime */
	{0x00400004u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* ScheduledProcedureStepEndDate */
	{0x00400005u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES},				 /* ScheduledProcedureStepEndTime */
	{0x00400006u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* ScheduledPerformingPhysicianName */
	{0x00400007u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* ScheduledProcedureStepDescription */
	{0x00400009u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0}, /* ScheduledProcedureStepID */
	{0x0040000Bu, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* ScheduledPerformingPhysicianIdentificationSequence */
	{0x00400010u, 0xFFFFFFFFu, "SH", DEID_ACT_X, DEID_OPT_DEVICE}, /* ScheduledStationName */
	{0x00400011u, 0xFFFFFFFFu, "SH", DEID_ACT_X,
	 DEID_OPT_DEVICE},				 /* ScheduledProcedureStepLocation */
	{0x00400012u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* PreMedication */
	{0x00400241u, 0xFFFFFFFFu, "AE", DEID_ACT_X, 0}, /* PerformedStationAETitle */
	{0x00400242u, 0xFFFFFFFFu, "SH", DEID_ACT_X, DEID_OPT_DEVICE}, /* PerformedStationName */
	{0x00400243u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0},	       /* PerformedLocation */
	{0x00400244u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* PerformedProcedureStepStartDate */
	{0x00400245u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES}, /* PerformedProcedureStepStartTime */
	{0x00400250u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* PerformedProcedureStepEndDate */
	{0x00400251u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES},				 /* PerformedProcedureStepEndTime */
	{0x00400253u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0}, /* PerformedProcedureStepID */
	{0x00400254u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC}, /* PerformedProcedureStepDescription */
	{0x00400275u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, DEID_OPT_DESC}, /* RequestAttributesSequence */
	{0x00400280u, 0xFFFFFFFFu, "ST", DEID_ACT_X,
	 DEID_OPT_DESC}, /* CommentsOnThePerformedProcedureStep */
	{0x00400310u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC}, /* CommentsOnRadiationDose */
	{0x0040050Au, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},	     /* SpecimenAccessionNumber */
	{0x00400512u, 0xFFFFFFFFu, "LO", DEID_ACT_D, 0},	     /* ContainerIdentifier */
	{0x00400513u, 0xFFFFFFFFu, "SQ", DEID_ACT_Z,
	 0}, /* IssuerOfTheContainerIdentifierSequence */
	{0x0040051Au, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* ContainerDescription */
	{0x00400551u, 0xFFFFFFFFu, "LO", DEID_ACT_D, 0},	     /* SpecimenIdentifier */
	{0x00400554u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* SpecimenUID */
	{0x00400555u, 0xFFFFFFFFu, "SQ", DEID_ACT_XZ, 0}, /* AcquisitionContextSequence */
	{0x00400562u, 0xFFFFFFFFu, "SQ", DEID_ACT_Z, 0}, /* IssuerOfTheSpecimenIdentifierSequence */
	{0x00400600u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* SpecimenShortDescription */
	{0x00400602u, 0xFFFFFFFFu, "UT", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* SpecimenDetailedDescription */
	{0x00400610u, 0xFFFFFFFFu, "SQ", DEID_ACT_Z, 0}, /* SpecimenPreparationSequence */
	{0x004006FAu, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* SlideIdentifier */
	{0x00401001u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0}, /* RequestedProcedureID */
	{0x00401002u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* ReasonForTheRequestedProcedure */
	{0x00401004u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* PatientTransportArrangements */
	{0x00401005u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* RequestedProcedureLocation */
	{0x0040100Au, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 DEID_OPT_DESC}, /* ReasonForRequestedProcedureCodeSequence */
	{0x00401010u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* NamesOfIntendedRecipientsOfResults */
	{0x00401011u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* IntendedRecipientsOfResultsIdentificationSequence */
	{0x00401101u, 0xFFFFFFFFu, "SQ", DEID_ACT_D, 0}, /* PersonIdentificationCodeSequence */
	{0x00401102u, 0xFFFFFFFFu, "ST", DEID_ACT_X, 0}, /* PersonAddress */
	{0x00401103u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* PersonTelephoneNumbers */
	{0x00401104u, 0xFFFFFFFFu, "LT", DEID_ACT_X, 0}, /* PersonTelecomInformation */
	{0x00401400u, 0xFFFFFFFFu, "LT", DEID_ACT_X,
	 DEID_OPT_DESC}, /* RequestedProcedureComments */
	{0x00402001u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC}, /* ReasonForTheImagingServiceRequest */
	{0x00402004u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* IssueDateOfImagingServiceRequest */
	{0x00402005u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES},				 /* IssueTimeOfImagingServiceRequest */
	{0x00402008u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* OrderEnteredBy */
	{0x00402009u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0}, /* OrderEntererLocation */
	{0x00402010u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0}, /* OrderCallbackPhoneNumber */
	{0x00402011u, 0xFFFFFFFFu, "LT", DEID_ACT_X, 0}, /* OrderCallbackTelecomInformation */
	{0x00402016u, 0xFFFFFFFFu, "LO", DEID_ACT_Z,
	 0}, /* PlacerOrderNumberImagingServiceRequest */
	{0x00402017u, 0xFFFFFFFFu, "LO", DEID_ACT_Z,
	 0}, /* FillerOrderNumberImagingServiceRequest */
	{0x00402400u, 0xFFFFFFFFu, "LT", DEID_ACT_X,
	 DEID_OPT_DESC}, /* ImagingServiceRequestComments */
	{0x00403001u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 0}, /* ConfidentialityConstraintOnPatientDataDescription */
	{0x00404005u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* ScheduledProcedureStepStartDateTime */
	{0x00404008u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* ScheduledProcedureStepExpirationDateTime */
	{0x00404010u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* ScheduledProcedureStepModificationDateTime */
	{0x00404011u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* ExpectedCompletionDateTime */
	{0x00404023u, 0xFFFFFFFFu, "UI", DEID_ACT_U,
	 0}, /* ReferencedGeneralPurposeScheduledProcedureStepTransactionUID */
	{0x00404025u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 DEID_OPT_DEVICE}, /* ScheduledStationNameCodeSequence */
	{0x00404027u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 DEID_OPT_DEVICE}, /* ScheduledStationGeographicLocationCodeSequence */
	{0x00404028u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 DEID_OPT_DEVICE}, /* PerformedStationNameCodeSequence */
	{0x00404030u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 DEID_OPT_DEVICE}, /* PerformedStationGeographicLocationCodeSequence */
	{0x00404034u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* ScheduledHumanPerformersSequence */
	{0x00404035u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* ActualHumanPerformersSequence */
	{0x00404036u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* HumanPerformerOrganization */
	{0x00404037u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* HumanPerformerName */
	{0x00404050u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* PerformedProcedureStepStartDateTime */
	{0x00404051u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* PerformedProcedureStepEndDateTime */
	{0x00404052u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* ProcedureStepCancellationDateTime */
	{0x0040A023u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* FindingsGroupRecordingDateTrial */
	{0x0040A024u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES},				 /* FindingsGroupRecordingTimeTrial */
	{0x0040A027u, 0xFFFFFFFFu, "LO", DEID_ACT_D, 0}, /* VerifyingOrganization */
	{0x0040A030u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES},  /* VerificationDateTime */
	{0x0040A032u, 0xFFFFFFFFu, "DT", DEID_ACT_XD, DEID_OPT_DATES}, /* ObservationDateTime */
	{0x0040A033u, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* ObservationStartDateTime */
	{0x0040A073u, 0xFFFFFFFFu, "SQ", DEID_ACT_D, 0}, /* VerifyingObserverSequence */
	{0x0040A075u, 0xFFFFFFFFu, "PN", DEID_ACT_D, 0}, /* VerifyingObserverName */
	{0x0040A078u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* AuthorObserverSequence */
	{0x0040A07Au, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* ParticipantSequence */
	{0x0040A07Cu, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* CustodialOrganizationSequence */
	{0x0040A082u, 0xFFFFFFFFu, "DT", DEID_ACT_Z, DEID_OPT_DATES}, /* ParticipationDateTime */
	{0x0040A088u, 0xFFFFFFFFu, "SQ", DEID_ACT_Z,
	 0}, /* VerifyingObserverIdentificationCodeSequence */
	{0x0040A110u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* DateOfDocumentOrVerbalTransactionTrial */
	{0x0040A112u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES}, /* TimeOfDocumentCreationOrVerbalTransactionTrial */
	{0x0040A120u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* DateTime */
	{0x0040A121u, 0xFFFFFFFFu, "DA", DEID_ACT_D, DEID_OPT_DATES}, /* Date */
	{0x0040A122u, 0xFFFFFFFFu, "TM", DEID_ACT_D, DEID_OPT_DATES}, /* Time */
	{0x0040A123u, 0xFFFFFFFFu, "PN", DEID_ACT_D, 0},	      /* PersonName */
	{0x0040A124u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* UID */
	{0x0040A13Au, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* ReferencedDateTime */
	{0x0040A171u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* ObservationUID */
	{0x0040A172u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* ReferencedObservationUIDTrial */
	{0x0040A192u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* ObservationDateTrial */
	{0x0040A193u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* ObservationTimeTrial */
	{0x0040A307u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0},	      /* CurrentObserverTrial */
	{0x0040A352u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0},	      /* VerbalSourceTrial */
	{0x0040A353u, 0xFFFFFFFFu, "ST", DEID_ACT_X, 0},	      /* AddressTrial */
	{0x0040A354u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},	      /* TelephoneNumberTrial */
	{0x0040A358u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* VerbalSourceIdentifierCodeSequenceTrial */
	{0x0040A402u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* ObservationSubjectUIDTrial */
	{0x0040A730u, 0xFFFFFFFFu, "SQ", DEID_ACT_D, 0}, /* ContentSequence */
	{0x0040DB06u, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* TemplateVersion */
	{0x0040DB07u, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* TemplateLocalVersion */
	{0x0040DB0Cu, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* TemplateExtensionOrganizationUID */
	{0x0040DB0Du, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* TemplateExtensionCreatorUID */
	{0x0040E004u, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* HL7DocumentEffectiveTime */
	{0x00420011u, 0xFFFFFFFFu, "OB", DEID_ACT_D, 0},	      /* EncapsulatedDocument */
	{0x00440004u, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* ApprovalStatusDateTime */
	{0x0044000Bu, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* ProductExpirationDateTime */
	{0x00440010u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES}, /* SubstanceAdministrationDateTime */
	{0x00440104u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* AssertionDateTime */
	{0x00440105u, 0xFFFFFFFFu, "DT", DEID_ACT_X,
	 DEID_OPT_DATES},				 /* AssertionExpirationDateTime */
	{0x0050001Bu, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* ContainerComponentID */
	{0x00500020u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DEVICE}, /* DeviceDescription */
	{0x00500021u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC},   /* LongDeviceDescription */
	{0x00620021u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	       /* TrackingUID */
	{0x00640003u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* SourceFrameOfReferenceUID */
	{0x00686226u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* EffectiveDateTime */
	{0x00686270u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* InformationIssueDateTime */
	{0x006A0003u, 0xFFFFFFFFu, "UI", DEID_ACT_D, 0},	      /* AnnotationGroupUID */
	{0x006A0005u, 0xFFFFFFFFu, "LO", DEID_ACT_D, DEID_OPT_DESC},  /* AnnotationGroupLabel */
	{0x006A0006u, 0xFFFFFFFFu, "UT", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* AnnotationGroupDescription */
	{0x00700001u, 0xFFFFFFFFu, "SQ", DEID_ACT_D, 0}, /* GraphicAnnotationSequence */
	{0x00700082u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* PresentationCreationDate */
	{0x00700083u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* PresentationCreationTime */
	{0x00700084u, 0xFFFFFFFFu, "PN", DEID_ACT_ZD, 0},	      /* ContentCreatorName */
	{0x00700086u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* ContentCreatorIdentificationCodeSequence */
	{0x0070031Au, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* FiducialUID */
	{0x00701101u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* PresentationDisplayCollectionUID */
	{0x00701102u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* PresentationSequenceCollectionUID */
	{0x0072000Au, 0xFFFFFFFFu, "DT", DEID_ACT_D,
	 DEID_OPT_DATES},				 /* HangingProtocolCreationDateTime */
	{0x0072005Eu, 0xFFFFFFFFu, "AE", DEID_ACT_D, 0}, /* SelectorAEValue */
	{0x0072005Fu, 0xFFFFFFFFu, "AS", DEID_ACT_D, DEID_OPT_PATIENT}, /* SelectorASValue */
	{0x00720061u, 0xFFFFFFFFu, "DA", DEID_ACT_D, DEID_OPT_DATES},	/* SelectorDAValue */
	{0x00720063u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES},	/* SelectorDTValue */
	{0x00720065u, 0xFFFFFFFFu, "OB", DEID_ACT_D, 0},		/* SelectorOBValue */
	{0x00720066u, 0xFFFFFFFFu, "LO", DEID_ACT_D, DEID_OPT_DESC},	/* SelectorLOValue */
	{0x00720068u, 0xFFFFFFFFu, "LT", DEID_ACT_D, DEID_OPT_DESC},	/* SelectorLTValue */
	{0x0072006Au, 0xFFFFFFFFu, "PN", DEID_ACT_D, 0},		/* SelectorPNValue */
	{0x0072006Bu, 0xFFFFFFFFu, "TM", DEID_ACT_D, DEID_OPT_DATES},	/* SelectorTMValue */
	{0x0072006Cu, 0xFFFFFFFFu, "SH", DEID_ACT_D, DEID_OPT_DESC},	/* SelectorSHValue */
	{0x0072006Du, 0xFFFFFFFFu, "UN", DEID_ACT_D, 0},		/* SelectorUNValue */
	{0x0072006Eu, 0xFFFFFFFFu, "ST", DEID_ACT_D, DEID_OPT_DESC},	/* SelectorSTValue */
	{0x00720070u, 0xFFFFFFFFu, "UT", DEID_ACT_D, DEID_OPT_DESC},	/* SelectorUTValue */
	{0x00720071u, 0xFFFFFFFFu, "UR", DEID_ACT_D, 0},		/* SelectorURValue */
	{0x00741234u, 0xFFFFFFFFu, "AE", DEID_ACT_X, 0},		/* ReceivingAE */
	{0x00741236u, 0xFFFFFFFFu, "AE", DEID_ACT_X, 0},		/* RequestingAE */
	{0x00880140u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},		/* StorageMediaFileSetUID */
	{0x00880200u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0},		/* IconImageSequence */
	{0x00880904u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},		/* TopicTitle */
	{0x00880906u, 0xFFFFFFFFu, "ST", DEID_ACT_X, 0},		/* TopicSubject */
	{0x00880910u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},		/* TopicAuthor */
	{0x00880912u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0},		/* TopicKeywords */
	{0x01000420u, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* SOPAuthorizationDateTime */
	{0x04000100u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* DigitalSignatureUID */
	{0x04000105u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* DigitalSignatureDateTime */
	{0x04000115u, 0xFFFFFFFFu, "OB", DEID_ACT_D, 0},	      /* CertificateOfSigner */
	{0x04000310u, 0xFFFFFFFFu, "OB", DEID_ACT_X, 0},	      /* CertifiedTimestamp */
	{0x04000402u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* ReferencedDigitalSignatureSequence */
	{0x04000403u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* ReferencedSOPInstanceMACSequence */
	{0x04000404u, 0xFFFFFFFFu, "OB", DEID_ACT_X, 0}, /* MAC */
	{0x04000550u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* ModifiedAttributesSequence */
	{0x04000551u, 0xFFFFFFFFu, "SQ", DEID_ACT_X,
	 0}, /* NonconformingModifiedAttributesSequence */
	{0x04000552u, 0xFFFFFFFFu, "OB", DEID_ACT_X, 0}, /* NonconformingDataElementValue */
	{0x04000561u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* OriginalAttributesSequence */
	{0x04000562u, 0xFFFFFFFFu, "DT", DEID_ACT_D,
	 DEID_OPT_DATES}, /* AttributeModificationDateTime */
	{0x04000563u, 0xFFFFFFFFu, "LO", DEID_ACT_D, DEID_OPT_DEVICE}, /* ModifyingSystem */
	{0x04000564u, 0xFFFFFFFFu, "LO", DEID_ACT_Z, 0},	       /* SourceOfPreviousValues */
	{0x04000565u, 0xFFFFFFFFu, "CS", DEID_ACT_D,
	 DEID_OPT_DESC},				 /* ReasonForTheAttributeModification */
	{0x04000600u, 0xFFFFFFFFu, "CS", DEID_ACT_X, 0}, /* InstanceOriginStatus */
	{0x20300020u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* TextString */
	{0x21000040u, 0xFFFFFFFFu, "DA", DEID_ACT_X, DEID_OPT_DATES}, /* CreationDate */
	{0x21000050u, 0xFFFFFFFFu, "TM", DEID_ACT_X, DEID_OPT_DATES}, /* CreationTime */
	{0x21000070u, 0xFFFFFFFFu, "AE", DEID_ACT_X, 0},	      /* Originator */
	{0x21000140u, 0xFFFFFFFFu, "AE", DEID_ACT_D, 0},	      /* DestinationAE */
	{0x22000002u, 0xFFFFFFFFu, "UT", DEID_ACT_XZ, DEID_OPT_DESC}, /* LabelText */
	{0x22000005u, 0xFFFFFFFFu, "LT", DEID_ACT_XZ, 0},	      /* BarcodeValue */
	{0x30020121u, 0xFFFFFFFFu, "SH", DEID_ACT_X,
	 DEID_OPT_DESC}, /* PositionAcquisitionTemplateName */
	{0x30020123u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC}, /* PositionAcquisitionTemplateDescription */
	{0x30060002u, 0xFFFFFFFFu, "SH", DEID_ACT_D, DEID_OPT_DESC},  /* StructureSetLabel */
	{0x30060004u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC},  /* StructureSetName */
	{0x30060006u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC},  /* StructureSetDescription */
	{0x30060008u, 0xFFFFFFFFu, "DA", DEID_ACT_Z, DEID_OPT_DATES}, /* StructureSetDate */
	{0x30060009u, 0xFFFFFFFFu, "TM", DEID_ACT_Z, DEID_OPT_DATES}, /* StructureSetTime */
	{0x30060024u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* ReferencedFrameOfReferenceUID */
	{0x30060026u, 0xFFFFFFFFu, "LO", DEID_ACT_Z, DEID_OPT_DESC},  /* ROIName */
	{0x30060028u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC},  /* ROIDescription */
	{0x3006002Du, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* ROIDateTime */
	{0x3006002Eu, 0xFFFFFFFFu, "DT", DEID_ACT_X, DEID_OPT_DATES}, /* ROIObservationDateTime */
	{0x30060038u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC},  /* ROIGenerationDescription */
	{0x3006004Du, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0},	      /* ROICreatorSequence */
	{0x3006004Eu, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0},	      /* ROIInterpreterSequence */
	{0x30060085u, 0xFFFFFFFFu, "SH", DEID_ACT_X, DEID_OPT_DESC},  /* ROIObservationLabel */
	{0x30060088u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC}, /* ROIObservationDescription */
	{0x300600A6u, 0xFFFFFFFFu, "PN", DEID_ACT_Z, 0},	     /* ROIInterpreter */
	{0x300600C2u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* RelatedFrameOfReferenceUID */
	{0x30080024u, 0xFFFFFFFFu, "DA", DEID_ACT_D,
	 DEID_OPT_DATES}, /* TreatmentControlPointDate */
	{0x30080025u, 0xFFFFFFFFu, "TM", DEID_ACT_D,
	 DEID_OPT_DATES}, /* TreatmentControlPointTime */
	{0x30080054u, 0xFFFFFFFFu, "DA", DEID_ACT_XD, DEID_OPT_DATES}, /* FirstTreatmentDate */
	{0x30080056u, 0xFFFFFFFFu, "DA", DEID_ACT_XD, DEID_OPT_DATES}, /* MostRecentTreatmentDate */
	{0x30080105u, 0xFFFFFFFFu, "LO", DEID_ACT_XZ, DEID_OPT_DEVICE}, /* SourceSerialNumber */
	{0x30080162u, 0xFFFFFFFFu, "DA", DEID_ACT_D, DEID_OPT_DATES},	/* SafePositionExitDate */
	{0x30080164u, 0xFFFFFFFFu, "TM", DEID_ACT_D, DEID_OPT_DATES},	/* SafePositionExitTime */
	{0x30080166u, 0xFFFFFFFFu, "DA", DEID_ACT_D, DEID_OPT_DATES},	/* SafePositionReturnDate */
	{0x30080168u, 0xFFFFFFFFu, "TM", DEID_ACT_D, DEID_OPT_DATES},	/* SafePositionReturnTime */
	{0x30080250u, 0xFFFFFFFFu, "DA", DEID_ACT_XD, DEID_OPT_DATES},	/* TreatmentDate */
	{0x30080251u, 0xFFFFFFFFu, "TM", DEID_ACT_XD, DEID_OPT_DATES},	/* TreatmentTime */
	{0x300A0002u, 0xFFFFFFFFu, "SH", DEID_ACT_D, DEID_OPT_DESC},	/* RTPlanLabel */
	{0x300A0003u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC},	/* RTPlanName */
	{0x300A0004u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC},	/* RTPlanDescription */
	{0x300A0006u, 0xFFFFFFFFu, "DA", DEID_ACT_XD, DEID_OPT_DATES},	/* RTPlanDate */
	{0x300A0007u, 0xFFFFFFFFu, "TM", DEID_ACT_XD, DEID_OPT_DATES},	/* RTPlanTime */
	{0x300A000Bu, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC},	/* TreatmentSites */
	{0x300A000Eu, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC}, /* PrescriptionDescription */
	{0x300A0013u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* DoseReferenceUID */
	{0x300A0016u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* DoseReferenceDescription */
	{0x300A0072u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC}, /* FractionGroupDescription */
	{0x300A0083u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* ReferencedDoseReferenceUID */
	{0x300A00B2u, 0xFFFFFFFFu, "SH", DEID_ACT_XZ, DEID_OPT_DEVICE}, /* TreatmentMachineName */
	{0x300A00C3u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC},	/* BeamDescription */
	{0x300A00DDu, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC},	/* BolusDescription */
	{0x300A0196u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC}, /* FixationDeviceDescription */
	{0x300A01A6u, 0xFFFFFFFFu, "ST", DEID_ACT_X,
	 DEID_OPT_DESC}, /* ShieldingDeviceDescription */
	{0x300A01B2u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC}, /* SetupTechniqueDescription */
	{0x300A0216u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DEVICE}, /* SourceManufacturer */
	{0x300A022Cu, 0xFFFFFFFFu, "DA", DEID_ACT_D,
	 DEID_OPT_DATES}, /* SourceStrengthReferenceDate */
	{0x300A022Eu, 0xFFFFFFFFu, "TM", DEID_ACT_D,
	 DEID_OPT_DATES}, /* SourceStrengthReferenceTime */
	{0x300A02EBu, 0xFFFFFFFFu, "LT", DEID_ACT_X, DEID_OPT_DESC}, /* CompensatorDescription */
	{0x300A0608u, 0xFFFFFFFFu, "LO", DEID_ACT_D,
	 DEID_OPT_DESC},				 /* TreatmentPositionGroupLabel */
	{0x300A0609u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* TreatmentPositionGroupUID */
	{0x300A0611u, 0xFFFFFFFFu, "LO", DEID_ACT_Z, 0}, /* RTAccessoryHolderSlotID */
	{0x300A0615u, 0xFFFFFFFFu, "LO", DEID_ACT_Z, 0}, /* RTAccessoryDeviceSlotID */
	{0x300A0619u, 0xFFFFFFFFu, "LO", DEID_ACT_D,
	 DEID_OPT_DESC}, /* RadiationDoseIdentificationLabel */
	{0x300A0623u, 0xFFFFFFFFu, "LO", DEID_ACT_D,
	 DEID_OPT_DESC}, /* RadiationDoseInVivoMeasurementLabel */
	{0x300A062Au, 0xFFFFFFFFu, "LO", DEID_ACT_D, DEID_OPT_DESC}, /* RTToleranceSetLabel */
	{0x300A0650u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	     /* PatientSetupUID */
	{0x300A0676u, 0xFFFFFFFFu, "ST", DEID_ACT_X,
	 DEID_OPT_DESC}, /* EquipmentFrameOfReferenceDescription */
	{0x300A067Cu, 0xFFFFFFFFu, "SH", DEID_ACT_D,
	 DEID_OPT_DESC}, /* RadiationGenerationModeLabel */
	{0x300A067Du, 0xFFFFFFFFu, "ST", DEID_ACT_Z,
	 DEID_OPT_DESC},				 /* RadiationGenerationModeDescription */
	{0x300A0700u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* TreatmentSessionUID */
	{0x300A0734u, 0xFFFFFFFFu, "ST", DEID_ACT_D,
	 DEID_OPT_DESC}, /* TreatmentToleranceViolationDescription */
	{0x300A0736u, 0xFFFFFFFFu, "DT", DEID_ACT_D,
	 DEID_OPT_DATES}, /* TreatmentToleranceViolationDateTime */
	{0x300A073Au, 0xFFFFFFFFu, "DT", DEID_ACT_D,
	 DEID_OPT_DATES}, /* RecordedRTControlPointDateTime */
	{0x300A0741u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* InterlockDateTime */
	{0x300A0742u, 0xFFFFFFFFu, "ST", DEID_ACT_D, DEID_OPT_DESC},  /* InterlockDescription */
	{0x300A0760u, 0xFFFFFFFFu, "DT", DEID_ACT_D, DEID_OPT_DATES}, /* OverrideDateTime */
	{0x300A0783u, 0xFFFFFFFFu, "ST", DEID_ACT_D,
	 DEID_OPT_DESC},				 /* InterlockOriginDescription */
	{0x300A0785u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* ReferencedTreatmentPositionGroupUID */
	{0x300A078Eu, 0xFFFFFFFFu, "LT", DEID_ACT_X,
	 DEID_OPT_DESC}, /* PatientTreatmentPreparationProcedureParameterDescription */
	{0x300A0792u, 0xFFFFFFFFu, "LT", DEID_ACT_X,
	 DEID_OPT_DESC}, /* PatientTreatmentPreparationMethodDescription */
	{0x300A0794u, 0xFFFFFFFFu, "LT", DEID_ACT_X,
	 DEID_OPT_DESC}, /* PatientSetupPhotoDescription */
	{0x300A079Au, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC}, /* DisplacementReferenceLabel */
	{0x300C0113u, 0xFFFFFFFFu, "LO", DEID_ACT_X,
	 DEID_OPT_DESC}, /* ReasonForOmissionDescription */
	{0x300C0127u, 0xFFFFFFFFu, "DT", DEID_ACT_D,
	 DEID_OPT_DEVICE | DEID_OPT_DATES}, /* BeamHoldTransitionDateTime */
	{0x300E0004u, 0xFFFFFFFFu, "DA", DEID_ACT_Z, DEID_OPT_DATES}, /* ReviewDate */
	{0x300E0005u, 0xFFFFFFFFu, "TM", DEID_ACT_Z, DEID_OPT_DATES}, /* ReviewTime */
	{0x300E0008u, 0xFFFFFFFFu, "PN", DEID_ACT_XZ, 0},	      /* ReviewerName */
	{0x30100006u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	      /* ConceptualVolumeUID */
	{0x3010000Bu, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* ReferencedConceptualVolumeUID */
	{0x3010000Fu, 0xFFFFFFFFu, "ST", DEID_ACT_Z,
	 DEID_OPT_DESC}, /* ConceptualVolumeCombinationDescription */
	{0x30100013u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* ConstituentConceptualVolumeUID */
	{0x30100015u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* SourceConceptualVolumeUID */
	{0x30100017u, 0xFFFFFFFFu, "ST", DEID_ACT_Z,
	 DEID_OPT_DESC},				 /* ConceptualVolumeDescription */
	{0x3010001Bu, 0xFFFFFFFFu, "UC", DEID_ACT_Z, 0}, /* DeviceAlternateIdentifier */
	{0x3010002Du, 0xFFFFFFFFu, "LO", DEID_ACT_D, DEID_OPT_DEVICE}, /* DeviceLabel */
	{0x30100031u, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	       /* ReferencedFiducialsUID */
	{0x30100033u, 0xFFFFFFFFu, "SH", DEID_ACT_D, DEID_OPT_DESC},   /* UserContentLabel */
	{0x30100034u, 0xFFFFFFFFu, "LO", DEID_ACT_D, DEID_OPT_DESC},   /* UserContentLongLabel */
	{0x30100035u, 0xFFFFFFFFu, "SH", DEID_ACT_D, DEID_OPT_DESC},   /* EntityLabel */
	{0x30100036u, 0xFFFFFFFFu, "LO", DEID_ACT_X, DEID_OPT_DESC},   /* EntityName */
	{0x30100037u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC},   /* EntityDescription */
	{0x30100038u, 0xFFFFFFFFu, "LO", DEID_ACT_D, DEID_OPT_DESC},   /* EntityLongLabel */
	{0x3010003Bu, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0},	       /* RTTreatmentPhaseUID */
	{0x30100043u, 0xFFFFFFFFu, "ST", DEID_ACT_Z,
	 DEID_OPT_DEVICE}, /* ManufacturerDeviceIdentifier */
	{0x3010004Cu, 0xFFFFFFFFu, "DA", DEID_ACT_XD, DEID_OPT_DATES}, /* IntendedPhaseStartDate */
	{0x3010004Du, 0xFFFFFFFFu, "DA", DEID_ACT_XD, DEID_OPT_DATES}, /* IntendedPhaseEndDate */
	{0x30100054u, 0xFFFFFFFFu, "LO", DEID_ACT_D, DEID_OPT_DESC},   /* RTPrescriptionLabel */
	{0x30100056u, 0xFFFFFFFFu, "LO", DEID_ACT_XD, DEID_OPT_DESC}, /* RTTreatmentApproachLabel */
	{0x3010005Au, 0xFFFFFFFFu, "UT", DEID_ACT_Z,
	 DEID_OPT_DESC}, /* RTPhysicianIntentNarrative */
	{0x3010005Cu, 0xFFFFFFFFu, "ST", DEID_ACT_Z, DEID_OPT_DESC}, /* ReasonForSuperseding */
	{0x30100061u, 0xFFFFFFFFu, "UT", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* PriorTreatmentDoseDescription */
	{0x3010006Eu, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* DosimetricObjectiveUID */
	{0x3010006Fu, 0xFFFFFFFFu, "UI", DEID_ACT_U, 0}, /* ReferencedDosimetricObjectiveUID */
	{0x30100077u, 0xFFFFFFFFu, "LO", DEID_ACT_XD, DEID_OPT_DESC}, /* TreatmentSite */
	{0x3010007Au, 0xFFFFFFFFu, "UT", DEID_ACT_Z, DEID_OPT_DESC},  /* TreatmentTechniqueNotes */
	{0x3010007Bu, 0xFFFFFFFFu, "UT", DEID_ACT_Z, DEID_OPT_DESC},  /* PrescriptionNotes */
	{0x3010007Fu, 0xFFFFFFFFu, "UT", DEID_ACT_Z, DEID_OPT_DESC},  /* FractionationNotes */
	{0x30100081u, 0xFFFFFFFFu, "SQ", DEID_ACT_Z, DEID_OPT_DESC}, /* PrescriptionNotesSequence */
	{0x30100085u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES},				 /* IntendedFractionStartTime */
	{0x40000010u, 0xFFFFFFFFu, "LT", DEID_ACT_X, 0}, /* Arbitrary */
	{0x40004000u, 0xFFFFFFFFu, "LT", DEID_ACT_X, 0}, /* TextComments */
	{0x40080040u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0}, /* ResultsID */
	{0x40080042u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* ResultsIDIssuer */
	{0x40080100u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* InterpretationRecordedDate */
	{0x40080101u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES},				 /* InterpretationRecordedTime */
	{0x40080102u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* InterpretationRecorder */
	{0x40080108u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* InterpretationTranscriptionDate */
	{0x40080109u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES},				 /* InterpretationTranscriptionTime */
	{0x4008010Au, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* InterpretationTranscriber */
	{0x4008010Bu, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC}, /* InterpretationText */
	{0x4008010Cu, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0},	     /* InterpretationAuthor */
	{0x40080111u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* InterpretationApproverSequence */
	{0x40080112u, 0xFFFFFFFFu, "DA", DEID_ACT_X,
	 DEID_OPT_DATES}, /* InterpretationApprovalDate */
	{0x40080113u, 0xFFFFFFFFu, "TM", DEID_ACT_X,
	 DEID_OPT_DATES},				 /* InterpretationApprovalTime */
	{0x40080114u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* PhysicianApprovingInterpretation */
	{0x40080115u, 0xFFFFFFFFu, "LT", DEID_ACT_X,
	 DEID_OPT_DESC},				 /* InterpretationDiagnosisDescription */
	{0x40080118u, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0}, /* ResultsDistributionListSequence */
	{0x40080119u, 0xFFFFFFFFu, "PN", DEID_ACT_X, 0}, /* DistributionName */
	{0x4008011Au, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* DistributionAddress */
	{0x40080200u, 0xFFFFFFFFu, "SH", DEID_ACT_X, 0}, /* InterpretationID */
	{0x40080202u, 0xFFFFFFFFu, "LO", DEID_ACT_X, 0}, /* InterpretationIDIssuer */
	{0x40080300u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC}, /* Impressions */
	{0x40084000u, 0xFFFFFFFFu, "ST", DEID_ACT_X, DEID_OPT_DESC}, /* ResultsComments */
	{0x50000000u, 0xFF000000u, "OB", DEID_ACT_X, 0},	     /* CurveData */
	{0x60003000u, 0xFF00FFFFu, "OW", DEID_ACT_X, 0},	     /* OverlayData */
	{0x60004000u, 0xFF00FFFFu, "LT", DEID_ACT_X, 0},	     /* OverlayComments */
	{0xFFFAFFFAu, 0xFFFFFFFFu, "SQ", DEID_ACT_X, 0},	     /* DigitalSignaturesSequence */
	{0xFFFCFFFCu, 0xFFFFFFFFu, "OB", DEID_ACT_X, 0},	     /* DataSetTrailingPadding */
};

/* Sorted by tag (the generator sorted them); the three repeating-group rows (curves, overlay
 * data and comments) carry a mask and are matched apart. */
const struct deid_rule *deid_rule_find(uint32_t tag)
{
	size_t lo = 0, hi = sizeof(rules) / sizeof(rules[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (rules[mid].tag == tag && rules[mid].mask == 0xFFFFFFFFu)
			return &rules[mid];
		if (rules[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].mask != 0xFFFFFFFFu && (tag & rules[i].mask) == rules[i].tag)
			return &rules[i];
	return NULL;
}

/* PS3.6 tags of VR SQ and UI (pydicom 2.3's dictionary and the newer ones the table names). */
static const uint32_t sq_tags[] = {
	0x00041220u, 0x00080006u, 0x00080051u, 0x00080063u, 0x00080082u, 0x00080096u, 0x0008009Du,
	0x00080109u, 0x00080110u, 0x00080121u, 0x00080123u, 0x00080124u, 0x00080220u, 0x00080300u,
	0x00080305u, 0x00080310u, 0x00081032u, 0x0008103Fu, 0x00081041u, 0x00081049u, 0x00081052u,
	0x00081062u, 0x00081072u, 0x00081084u, 0x00081100u, 0x00081110u, 0x00081111u, 0x00081115u,
	0x00081120u, 0x00081125u, 0x00081130u, 0x00081134u, 0x0008113Au, 0x00081140u, 0x00081145u,
	0x0008114Au, 0x0008114Bu, 0x00081156u, 0x00081164u, 0x00081198u, 0x00081199u, 0x0008119Au,
	0x00081200u, 0x00081250u, 0x00082112u, 0x00082133u, 0x00082135u, 0x00082218u, 0x00082220u,
	0x00082228u, 0x00082229u, 0x00082230u, 0x00082240u, 0x00082242u, 0x00082244u, 0x00082246u,
	0x00082251u, 0x00082253u, 0x00082255u, 0x00082257u, 0x00082259u, 0x0008225Au, 0x0008225Cu,
	0x00083001u, 0x00083011u, 0x00089092u, 0x00089121u, 0x00089124u, 0x00089154u, 0x00089215u,
	0x00089237u, 0x00089410u, 0x00089458u, 0x00100024u, 0x00100026u, 0x00100027u, 0x00100050u,
	0x00100101u, 0x00100102u, 0x00100201u, 0x00100215u, 0x00100216u, 0x00100219u, 0x00100221u,
	0x00100229u, 0x00101002u, 0x00101021u, 0x00101100u, 0x00102202u, 0x00102293u, 0x00102294u,
	0x00102296u, 0x00120023u, 0x00120064u, 0x00120083u, 0x00140106u, 0x00142002u, 0x00142012u,
	0x0014201Eu, 0x00142030u, 0x00142204u, 0x00142220u, 0x00143020u, 0x00143040u, 0x00143060u,
	0x00144002u, 0x00144008u, 0x0014400Eu, 0x00144010u, 0x00144011u, 0x00144020u, 0x00144030u,
	0x00144035u, 0x00144040u, 0x00144050u, 0x00144051u, 0x00144060u, 0x00144070u, 0x00144080u,
	0x00144083u, 0x00144086u, 0x00144087u, 0x00144091u, 0x0014409Au, 0x00180012u, 0x00180014u,
	0x00180026u, 0x00180029u, 0x0018002Au, 0x00180036u, 0x0018100Au, 0x001811B8u, 0x001811BAu,
	0x001811BCu, 0x001811BFu, 0x001811C1u, 0x00181272u, 0x00182041u, 0x00185011u, 0x00185104u,
	0x00186011u, 0x00189006u, 0x00189042u, 0x00189045u, 0x00189049u, 0x00189076u, 0x00189083u,
	0x00189084u, 0x00189092u, 0x00189103u, 0x00189107u, 0x00189112u, 0x00189114u, 0x00189115u,
	0x00189117u, 0x00189118u, 0x00189119u, 0x00189125u, 0x00189126u, 0x00189152u, 0x00189176u,
	0x00189197u, 0x00189226u, 0x00189227u, 0x00189239u, 0x00189251u, 0x0018925Du, 0x00189260u,
	0x00189301u, 0x00189304u, 0x00189308u, 0x00189312u, 0x00189314u, 0x00189321u, 0x00189325u,
	0x00189326u, 0x00189329u, 0x00189338u, 0x00189340u, 0x00189341u, 0x00189346u, 0x00189360u,
	0x00189362u, 0x00189363u, 0x00189364u, 0x00189365u, 0x0018936Fu, 0x00189379u, 0x0018937Du,
	0x00189380u, 0x00189381u, 0x00189382u, 0x00189401u, 0x00189405u, 0x00189406u, 0x00189407u,
	0x00189412u, 0x00189417u, 0x00189432u, 0x00189434u, 0x00189451u, 0x00189455u, 0x00189456u,
	0x00189462u, 0x00189472u, 0x00189476u, 0x00189477u, 0x00189504u, 0x00189506u, 0x00189507u,
	0x00189530u, 0x00189538u, 0x00189541u, 0x00189542u, 0x00189555u, 0x00189556u, 0x00189601u,
	0x00189621u, 0x00189732u, 0x00189733u, 0x00189734u, 0x00189735u, 0x00189736u, 0x00189737u,
	0x00189749u, 0x00189751u, 0x00189771u, 0x00189772u, 0x00189803u, 0x00189806u, 0x00189807u,
	0x00189809u, 0x0018980Du, 0x0018980Eu, 0x0018980Fu, 0x00189902u, 0x00189903u, 0x00189906u,
	0x00189907u, 0x00189909u, 0x0018990Bu, 0x0018990Cu, 0x0018990Du, 0x0018990Eu, 0x00189911u,
	0x00189912u, 0x00189913u, 0x00189914u, 0x0018991Bu, 0x0018991Cu, 0x0018991Du, 0x0018991Fu,
	0x00189920u, 0x00189931u, 0x00189932u, 0x00189933u, 0x00189934u, 0x00189935u, 0x00189936u,
	0x0018993Bu, 0x0018993Cu, 0x0018993Du, 0x0018993Eu, 0x0018A001u, 0x00209071u, 0x00209111u,
	0x00209113u, 0x00209116u, 0x00209170u, 0x00209171u, 0x00209172u, 0x00209221u, 0x00209222u,
	0x00209253u, 0x0020930Eu, 0x0020930Fu, 0x00209310u, 0x00209450u, 0x00209529u, 0x00220006u,
	0x00220015u, 0x00220016u, 0x00220017u, 0x00220018u, 0x00220019u, 0x0022001Au, 0x0022001Bu,
	0x0022001Cu, 0x0022001Du, 0x00220020u, 0x00220021u, 0x00220022u, 0x00220031u, 0x00220042u,
	0x00220058u, 0x00221007u, 0x00221008u, 0x00221012u, 0x00221024u, 0x00221025u, 0x00221028u,
	0x00221035u, 0x00221036u, 0x00221040u, 0x00221044u, 0x00221045u, 0x00221047u, 0x00221048u,
	0x0022104Au, 0x0022104Bu, 0x00221050u, 0x00221090u, 0x00221092u, 0x00221096u, 0x00221100u,
	0x00221101u, 0x00221103u, 0x00221125u, 0x00221127u, 0x00221128u, 0x0022112Au, 0x00221132u,
	0x00221133u, 0x00221134u, 0x00221135u, 0x00221150u, 0x00221153u, 0x00221210u, 0x00221211u,
	0x00221212u, 0x00221220u, 0x00221225u, 0x00221230u, 0x00221250u, 0x00221255u, 0x00221257u,
	0x00221260u, 0x00221262u, 0x00221265u, 0x00221300u, 0x00221310u, 0x00221330u, 0x00221420u,
	0x00221423u, 0x00221436u, 0x00221443u, 0x00221445u, 0x00221450u, 0x00221458u, 0x00221465u,
	0x00221470u, 0x00221472u, 0x00221512u, 0x00221513u, 0x00221518u, 0x00221525u, 0x00221526u,
	0x00221612u, 0x00221615u, 0x00221618u, 0x00221620u, 0x00221628u, 0x00221640u, 0x00240016u,
	0x00240021u, 0x00240024u, 0x00240032u, 0x00240033u, 0x00240034u, 0x00240058u, 0x00240064u,
	0x00240065u, 0x00240067u, 0x00240083u, 0x00240085u, 0x00240089u, 0x00240097u, 0x00240110u,
	0x00240112u, 0x00240114u, 0x00240115u, 0x00240122u, 0x00240317u, 0x00240320u, 0x00240325u,
	0x00240344u, 0x00281230u, 0x00281352u, 0x00281401u, 0x00281404u, 0x0028140Bu, 0x0028140Cu,
	0x00283000u, 0x00283010u, 0x00283110u, 0x00285000u, 0x00286100u, 0x00287000u, 0x00287008u,
	0x0028700Au, 0x0028700Fu, 0x00287010u, 0x00287011u, 0x00287012u, 0x00287015u, 0x00287016u,
	0x0028701Cu, 0x00287022u, 0x00287023u, 0x00287024u, 0x00287027u, 0x00287028u, 0x0028702Cu,
	0x0028702Du, 0x0028702Eu, 0x00289110u, 0x00289132u, 0x00289145u, 0x00289415u, 0x00289422u,
	0x00289443u, 0x00289501u, 0x00289502u, 0x00289505u, 0x00321031u, 0x00321034u, 0x00321064u,
	0x00321065u, 0x00321067u, 0x00340001u, 0x00340009u, 0x0034000Au, 0x0034000Bu, 0x0034000Du,
	0x00380004u, 0x00380014u, 0x00380044u, 0x00380064u, 0x00380100u, 0x00380101u, 0x00380502u,
	0x003A0200u, 0x003A0208u, 0x003A0209u, 0x003A020Au, 0x003A0211u, 0x003A0240u, 0x003A0242u,
	0x003A0300u, 0x003A0312u, 0x00400008u, 0x0040000Au, 0x0040000Bu, 0x00400026u, 0x00400027u,
	0x00400036u, 0x00400039u, 0x0040003Au, 0x00400100u, 0x00400220u, 0x00400260u, 0x00400270u,
	0x00400275u, 0x00400281u, 0x00400293u, 0x00400295u, 0x00400296u, 0x0040030Eu, 0x00400320u,
	0x00400321u, 0x00400324u, 0x00400330u, 0x00400340u, 0x00400440u, 0x00400441u, 0x00400500u,
	0x00400513u, 0x00400515u, 0x00400518u, 0x00400520u, 0x00400550u, 0x00400552u, 0x00400555u,
	0x00400560u, 0x00400562u, 0x0040059Au, 0x00400610u, 0x00400612u, 0x00400620u, 0x00400710u,
	0x0040071Au, 0x004008D8u, 0x004008DAu, 0x004008EAu, 0x004009F8u, 0x0040100Au, 0x00401011u,
	0x00401012u, 0x00401101u, 0x00404004u, 0x00404007u, 0x00404009u, 0x00404015u, 0x00404016u,
	0x00404018u, 0x00404019u, 0x00404021u, 0x00404022u, 0x00404025u, 0x00404026u, 0x00404027u,
	0x00404028u, 0x00404029u, 0x00404030u, 0x00404031u, 0x00404032u, 0x00404033u, 0x00404034u,
	0x00404035u, 0x00404070u, 0x00404071u, 0x00404072u, 0x00404074u, 0x00409092u, 0x00409094u,
	0x00409096u, 0x00409098u, 0x00409220u, 0x0040A020u, 0x0040A026u, 0x0040A028u, 0x0040A043u,
	0x0040A066u, 0x0040A068u, 0x0040A070u, 0x0040A073u, 0x0040A076u, 0x0040A078u, 0x0040A07Au,
	0x0040A07Cu, 0x0040A085u, 0x0040A088u, 0x0040A090u, 0x0040A167u, 0x0040A168u, 0x0040A170u,
	0x0040A195u, 0x0040A296u, 0x0040A300u, 0x0040A301u, 0x0040A313u, 0x0040A340u, 0x0040A358u,
	0x0040A360u, 0x0040A370u, 0x0040A372u, 0x0040A375u, 0x0040A380u, 0x0040A385u, 0x0040A390u,
	0x0040A404u, 0x0040A504u, 0x0040A525u, 0x0040A730u, 0x0040A731u, 0x0040A732u, 0x0040A744u,
	0x0040A801u, 0x0040A806u, 0x0040A807u, 0x0040A808u, 0x0040B020u, 0x0040E006u, 0x0040E008u,
	0x0040E021u, 0x0040E022u, 0x0040E023u, 0x0040E024u, 0x0040E025u, 0x00420013u, 0x00440007u,
	0x00440013u, 0x00440019u, 0x00440100u, 0x00440101u, 0x00440103u, 0x00440107u, 0x00440109u,
	0x0044010Au, 0x00460014u, 0x00460015u, 0x00460016u, 0x00460018u, 0x00460028u, 0x00460047u,
	0x00460050u, 0x00460052u, 0x00460070u, 0x00460071u, 0x00460074u, 0x00460080u, 0x00460097u,
	0x00460098u, 0x00460100u, 0x00460101u, 0x00460102u, 0x00460110u, 0x00460111u, 0x00460112u,
	0x00460113u, 0x00460116u, 0x00460121u, 0x00460122u, 0x00460123u, 0x00460124u, 0x00460145u,
	0x00460207u, 0x00460210u, 0x00460211u, 0x00460215u, 0x00460218u, 0x00460244u, 0x00480008u,
	0x00480100u, 0x00480105u, 0x00480108u, 0x00480110u, 0x00480120u, 0x00480200u, 0x00480207u,
	0x0048021Au, 0x00500010u, 0x00500012u, 0x00520016u, 0x00520025u, 0x00520027u, 0x00520029u,
	0x00540012u, 0x00540013u, 0x00540016u, 0x00540022u, 0x00540032u, 0x00540052u, 0x00540062u,
	0x00540063u, 0x00540072u, 0x00540220u, 0x00540222u, 0x00540300u, 0x00540302u, 0x00540304u,
	0x00540306u, 0x00540410u, 0x00540412u, 0x00540414u, 0x00603000u, 0x00620002u, 0x00620003u,
	0x00620007u, 0x0062000Au, 0x0062000Fu, 0x00620011u, 0x00620012u, 0x00640002u, 0x00640005u,
	0x0064000Fu, 0x00640010u, 0x00660002u, 0x00660011u, 0x00660012u, 0x00660013u, 0x00660026u,
	0x00660027u, 0x00660028u, 0x0066002Bu, 0x0066002Du, 0x0066002Eu, 0x0066002Fu, 0x00660030u,
	0x00660034u, 0x00660035u, 0x00660101u, 0x00660102u, 0x00660104u, 0x00660108u, 0x00660121u,
	0x00660124u, 0x00660130u, 0x00660132u, 0x00660133u, 0x00660134u, 0x00686222u, 0x00686224u,
	0x00686225u, 0x00686230u, 0x00686260u, 0x00686265u, 0x006862A0u, 0x006862C0u, 0x006862E0u,
	0x006862F0u, 0x00686320u, 0x00686360u, 0x006863A0u, 0x006863A4u, 0x006863A8u, 0x006863ACu,
	0x006863B0u, 0x006863E0u, 0x00686400u, 0x00686430u, 0x00686470u, 0x00686500u, 0x00686510u,
	0x00686520u, 0x00686545u, 0x00686550u, 0x006865A0u, 0x006865E0u, 0x00687003u, 0x006A0002u,
	0x006A0008u, 0x006A0009u, 0x006A000Au, 0x006A000Bu, 0x00700001u, 0x00700008u, 0x00700009u,
	0x0070005Au, 0x00700060u, 0x00700086u, 0x00700087u, 0x00700209u, 0x00700231u, 0x00700232u,
	0x00700233u, 0x00700234u, 0x00700287u, 0x00700308u, 0x00700309u, 0x0070030Au, 0x0070030Du,
	0x00700311u, 0x00700314u, 0x00700318u, 0x0070031Cu, 0x0070031Eu, 0x0070031Fu, 0x00700402u,
	0x00700404u, 0x00701104u, 0x00701201u, 0x0070120Au, 0x00701301u, 0x00701304u, 0x00701801u,
	0x00701803u, 0x00701805u, 0x00701806u, 0x00701901u, 0x00701903u, 0x00701905u, 0x00701A04u,
	0x00701A08u, 0x00701B01u, 0x00701B03u, 0x00701B04u, 0x00701B11u, 0x00701B12u, 0x0072000Cu,
	0x0072000Eu, 0x00720012u, 0x00720020u, 0x00720022u, 0x00720030u, 0x0072003Eu, 0x00720080u,
	0x00720102u, 0x00720200u, 0x00720210u, 0x00720214u, 0x00720300u, 0x00720400u, 0x00720422u,
	0x00720424u, 0x00720427u, 0x00720430u, 0x00720600u, 0x00720705u, 0x00741002u, 0x00741007u,
	0x00741008u, 0x0074100Eu, 0x00741020u, 0x00741030u, 0x00741040u, 0x00741042u, 0x00741044u,
	0x00741046u, 0x00741048u, 0x0074104Au, 0x0074104Cu, 0x0074104Eu, 0x00741050u, 0x00741210u,
	0x00741212u, 0x00741216u, 0x00741220u, 0x00741224u, 0x00741401u, 0x00741405u, 0x00741409u,
	0x0074140Du, 0x0074140Eu, 0x00760008u, 0x0076000Cu, 0x0076000Eu, 0x00760010u, 0x00760020u,
	0x00760032u, 0x00760034u, 0x00760040u, 0x00760060u, 0x00780026u, 0x00780028u, 0x0078002Au,
	0x00780070u, 0x007800B0u, 0x007800B4u, 0x00800001u, 0x00800002u, 0x00800003u, 0x00800008u,
	0x00800012u, 0x00800013u, 0x00820004u, 0x00820005u, 0x00820007u, 0x0082000Cu, 0x00820010u,
	0x00820017u, 0x00820021u, 0x00820022u, 0x00820034u, 0x00820035u, 0x00880200u, 0x04000401u,
	0x04000402u, 0x04000403u, 0x04000500u, 0x04000550u, 0x04000551u, 0x04000561u, 0x2000001Eu,
	0x200000A2u, 0x200000A4u, 0x200000A8u, 0x20000500u, 0x20000510u, 0x20100500u, 0x20100510u,
	0x20100520u, 0x20200110u, 0x20200111u, 0x20200130u, 0x20200140u, 0x20400010u, 0x20400020u,
	0x20400500u, 0x20500010u, 0x20500500u, 0x21000500u, 0x21200050u, 0x21200070u, 0x21300010u,
	0x21300015u, 0x21300030u, 0x21300040u, 0x21300050u, 0x21300060u, 0x21300080u, 0x213000A0u,
	0x213000C0u, 0x2200000Du, 0x30020030u, 0x30020040u, 0x30020050u, 0x30040010u, 0x30040050u,
	0x30040060u, 0x30060010u, 0x30060012u, 0x30060014u, 0x30060016u, 0x30060018u, 0x30060020u,
	0x30060030u, 0x30060037u, 0x30060039u, 0x30060040u, 0x3006004Au, 0x3006004Du, 0x3006004Eu,
	0x30060080u, 0x30060086u, 0x300600A0u, 0x300600B0u, 0x300600B6u, 0x300600B9u, 0x300600C0u,
	0x300600C9u, 0x300600CAu, 0x300600CBu, 0x30080010u, 0x30080020u, 0x30080021u, 0x30080030u,
	0x30080040u, 0x30080041u, 0x30080050u, 0x30080060u, 0x30080068u, 0x30080070u, 0x30080080u,
	0x30080090u, 0x300800A0u, 0x300800B0u, 0x300800C0u, 0x300800D0u, 0x300800D1u, 0x300800E0u,
	0x300800F0u, 0x300800F2u, 0x300800F4u, 0x300800F6u, 0x30080100u, 0x30080110u, 0x30080120u,
	0x30080130u, 0x30080140u, 0x30080150u, 0x30080160u, 0x30080171u, 0x30080173u, 0x30080220u,
	0x30080240u, 0x300A0010u, 0x300A0040u, 0x300A0048u, 0x300A0070u, 0x300A008Cu, 0x300A00B0u,
	0x300A00B6u, 0x300A00CAu, 0x300A00D1u, 0x300A00E3u, 0x300A00F4u, 0x300A0107u, 0x300A0111u,
	0x300A0116u, 0x300A011Au, 0x300A0180u, 0x300A0190u, 0x300A01A0u, 0x300A01B4u, 0x300A0206u,
	0x300A0210u, 0x300A0230u, 0x300A0260u, 0x300A0280u, 0x300A02B0u, 0x300A02D0u, 0x300A02EAu,
	0x300A030Cu, 0x300A0314u, 0x300A0332u, 0x300A0342u, 0x300A0360u, 0x300A0370u, 0x300A0380u,
	0x300A03A0u, 0x300A03A2u, 0x300A03A4u, 0x300A03A6u, 0x300A03A8u, 0x300A03AAu, 0x300A03ACu,
	0x300A0401u, 0x300A0410u, 0x300A0420u, 0x300A0431u, 0x300A0441u, 0x300A0450u, 0x300A0453u,
	0x300A0505u, 0x300A0506u, 0x300A060Au, 0x300A0610u, 0x300A0614u, 0x300A0616u, 0x300A0617u,
	0x300A0618u, 0x300A061Cu, 0x300A061Fu, 0x300A0620u, 0x300A0621u, 0x300A0629u, 0x300A062Bu,
	0x300A062Du, 0x300A062Fu, 0x300A0630u, 0x300A0631u, 0x300A0632u, 0x300A0635u, 0x300A063Au,
	0x300A063Bu, 0x300A063Eu, 0x300A063Fu, 0x300A0644u, 0x300A0646u, 0x300A0647u, 0x300A064Cu,
	0x300A064Du, 0x300A0651u, 0x300A0656u, 0x300A0658u, 0x300A0659u, 0x300A065Au, 0x300A065Bu,
	0x300A065Du, 0x300A0660u, 0x300A0662u, 0x300A0667u, 0x300A0668u, 0x300A066Au, 0x300A066Fu,
	0x300A0671u, 0x300A0673u, 0x300A0677u, 0x300A0678u, 0x300A067Bu, 0x300A067Eu, 0x300A067Fu,
	0x300A0683u, 0x300A0684u, 0x300A0686u, 0x300A0689u, 0x300A068Au, 0x300A0702u, 0x300A0703u,
	0x300A0715u, 0x300A0716u, 0x300A0722u, 0x300A0731u, 0x300A0733u, 0x300A073Eu, 0x300A073Fu,
	0x300A0740u, 0x300A0743u, 0x300A0744u, 0x300A0745u, 0x300A0746u, 0x300A0761u, 0x300A0762u,
	0x300A0772u, 0x300A0774u, 0x300A0780u, 0x300A0784u, 0x300A0787u, 0x300A0788u, 0x300A0789u,
	0x300A078Au, 0x300A078Bu, 0x300A078Cu, 0x300A078Du, 0x300A078Fu, 0x300A0790u, 0x300A0791u,
	0x300A0793u, 0x300A0797u, 0x300A0798u, 0x300A0799u, 0x300A079Cu, 0x300A079Du, 0x300C0002u,
	0x300C0004u, 0x300C000Au, 0x300C0020u, 0x300C0040u, 0x300C0042u, 0x300C0050u, 0x300C0055u,
	0x300C0060u, 0x300C0080u, 0x300C00B0u, 0x300C00F2u, 0x300C0111u, 0x300C0114u, 0x300C0116u,
	0x300C0120u, 0x300C0125u, 0x300C0128u, 0x30100001u, 0x30100003u, 0x30100004u, 0x30100007u,
	0x30100008u, 0x30100009u, 0x3010000Au, 0x30100011u, 0x30100012u, 0x30100014u, 0x30100016u,
	0x30100018u, 0x30100019u, 0x30100021u, 0x30100023u, 0x30100024u, 0x30100025u, 0x30100026u,
	0x30100027u, 0x30100028u, 0x3010002Au, 0x3010002Bu, 0x3010002Cu, 0x3010002Eu, 0x3010002Fu,
	0x30100030u, 0x30100032u, 0x30100044u, 0x30100049u, 0x3010004Au, 0x3010004Bu, 0x3010004Eu,
	0x30100055u, 0x30100057u, 0x3010005Bu, 0x3010005Du, 0x3010005Fu, 0x30100060u, 0x30100062u,
	0x30100064u, 0x30100065u, 0x30100067u, 0x30100069u, 0x3010006Au, 0x3010006Bu, 0x3010006Cu,
	0x3010006Du, 0x30100070u, 0x30100071u, 0x30100076u, 0x30100078u, 0x30100079u, 0x30100080u,
	0x30100081u, 0x30100082u, 0x30100087u, 0x30100088u, 0x30100089u, 0x30100091u, 0x30100097u,
	0x30100098u, 0x40080050u, 0x40080111u, 0x40080117u, 0x40080118u, 0x40100004u, 0x40101001u,
	0x4010100Au, 0x40101011u, 0x40101037u, 0x40101038u, 0x40101045u, 0x40101047u, 0x40101064u,
	0x4010106Fu, 0x40101071u, 0x40101072u, 0x40101076u, 0x40101077u, 0x40101079u, 0x4010107Bu,
	0x4010107Du, 0x4FFE0001u, 0x52009229u, 0x52009230u, 0x54000100u, 0xFFFAFFFAu,
};

static const uint32_t ui_tags[] = {
	0x00000002u, 0x00000003u, 0x00001000u, 0x00001001u, 0x00020002u, 0x00020003u, 0x00020010u,
	0x00020012u, 0x00020032u, 0x00020033u, 0x00020100u, 0x00041432u, 0x00041510u, 0x00041511u,
	0x00041512u, 0x0004151Au, 0x00080014u, 0x00080016u, 0x00080017u, 0x00080018u, 0x00080019u,
	0x0008001Au, 0x0008001Bu, 0x00080058u, 0x00080062u, 0x0008010Cu, 0x0008010Du, 0x00080117u,
	0x00080118u, 0x00081150u, 0x00081155u, 0x0008115Au, 0x00081167u, 0x00081195u, 0x00083002u,
	0x00083010u, 0x00083012u, 0x00089123u, 0x00181002u, 0x0018100Bu, 0x00182042u, 0x0018991Eu,
	0x0020000Du, 0x0020000Eu, 0x00200052u, 0x00200200u, 0x00200242u, 0x00209161u, 0x00209164u,
	0x00209312u, 0x00209313u, 0x00280304u, 0x00281199u, 0x00281214u, 0x00340003u, 0x003A0310u,
	0x00400554u, 0x00404023u, 0x0040A021u, 0x0040A022u, 0x0040A124u, 0x0040A171u, 0x0040A172u,
	0x0040A402u, 0x0040DB0Cu, 0x0040DB0Du, 0x0040E011u, 0x0040E030u, 0x0040E031u, 0x00440102u,
	0x00440108u, 0x00620021u, 0x00640003u, 0x00687004u, 0x006A0003u, 0x0070031Au, 0x0070031Bu,
	0x00701101u, 0x00701102u, 0x00701209u, 0x00701904u, 0x0072007Fu, 0x00880140u, 0x04000010u,
	0x04000100u, 0x04000510u, 0x30060024u, 0x300600C2u, 0x300A0013u, 0x300A0083u, 0x300A0609u,
	0x300A0650u, 0x300A0675u, 0x300A0700u, 0x300A0785u, 0x30100006u, 0x3010000Bu, 0x30100013u,
	0x30100015u, 0x3010001Fu, 0x30100031u, 0x3010003Bu, 0x30100052u, 0x30100053u, 0x3010006Eu,
	0x3010006Fu,
};

static bool tag_in(const uint32_t *v, size_t n, uint32_t tag)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v[mid] == tag)
			return true;
		if (v[mid] < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

bool deid_dict_is_sq(uint32_t tag)
{
	return tag_in(sq_tags, sizeof(sq_tags) / sizeof(sq_tags[0]), tag);
}

bool deid_dict_is_ui(uint32_t tag)
{
	return tag_in(ui_tags, sizeof(ui_tags) / sizeof(ui_tags[0]), tag);
}
